import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";

/**
 * Debian's Chromium, headless, with a fresh profile and nothing phoning home,
 * JavaScript off (the pages must read without it). Calls `fn` with a page and
 * closes everything after.
 */
export async function withChromium<T>(fn: (page: Page) => Promise<T>, opts: { width?: number; height?: number } = {}): Promise<T> {
  const profile = mkdtempSync(join(tmpdir(), "hak-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    javaScriptEnabled: false,
    viewport: { width: opts.width ?? 1500, height: opts.height ?? 900 },
  });
  try {
    return await fn(await browser.newPage());
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** A full-page screenshot kept under test-artifacts/ (git-ignored), for a person to look at. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync("test-artifacts", { recursive: true });
  const path = join("test-artifacts", name);
  await page.screenshot({ path, fullPage: true });
  return path;
}
