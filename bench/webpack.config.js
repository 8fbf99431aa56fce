// Bundles the bench pages (bench/pages/) the same way for both stacks: webpack production, ES
// module output, each stack's .wasm a separate file. One output folder per page under
// bench/dist/: `ours` and `peer` run the scenarios, `first-ours` and `first-peer` are the
// minimal pages of the first visit, whose files are the bundle rows of the table.
// Run by scripts/bench.sh: npx webpack --config bench/webpack.config.js
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/** One page: `entry` bundled into bench/dist/`name`/main.js with its chunks and .wasm. */
const page = (name, entry) => ({
  name,
  mode: 'production',
  context: ROOT,
  entry: { main: entry },
  output: {
    path: path.resolve(__dirname, 'dist', name),
    filename: '[name].js',
    chunkFilename: '[name].[contenthash].js',
    assetModuleFilename: '[name].[contenthash][ext]',
    module: true,
    clean: true,
  },
  experiments: { outputModule: true },
  // The .wasm files are what the bench weighs; webpack's size hints would only repeat that.
  performance: { hints: false },
});

module.exports = [
  page('ours', './bench/pages/ours.js'),
  page('peer', './bench/pages/peer.js'),
  page('first-ours', './bench/pages/first-add-ours.js'),
  page('first-peer', './bench/pages/first-add-peer.js'),
];
