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
