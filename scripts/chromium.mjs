// Debian's Chromium for tests, driven by playwright-core (which downloads no browser of its own).
import { chromium } from "playwright-core";

/** Flags Chromium needs as root (--no-sandbox) on a machine without network. */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Launches /usr/bin/chromium headless. */
export function launchChromium() {
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: ARGS });
}

/**
 * Launches /usr/bin/chromium headless with an on-disk profile in `userDataDir` (IndexedDB on
 * disk, as for a shopper; `launchChromium`'s contexts keep it in memory). Resolves to the
 * profile's browser context.
 */
export function launchChromiumProfile(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, { executablePath: "/usr/bin/chromium", args: ARGS });
}
