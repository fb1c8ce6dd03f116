// What both browser drivers (tests/forms/driver.mjs, tests/tasklist/driver.mjs) share in Node:
// launching headless Chromium that reaches nothing but loopback, the operator's field actions,
// and the JSON-lines command loop on stdin/stdout that ends Chromium on close or signal.
import { createInterface } from 'node:readline';

import puppeteer from 'puppeteer-core';

import { afterLeaving } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export function launchBrowser(viewport) {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Over a pipe, not a port: Chromium ends when this process does, even if it is killed.
    pipe: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      // Nothing but loopback: every other host name resolves to nothing.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-domain-reliability',
      '--no-pings',
    ],
    defaultViewport: viewport,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
}

// Whether a page may load `url`: only its own origin and inline data.
export function allowed(url, origin) {
  return url.startsWith(origin + '/') || url.startsWith('data:');
}

// After a DOM event, until the viewer has re-rendered (Preact renders on the next frames).
export async function settle(page) {
  await page.evaluate(
    () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
  );
}

// Types `value` into the field labelled `label` as a user does (select all, delete, type, Tab).
export async function fillField(page, label, value) {
  const input = await page.evaluateHandle((label) => window.__harness.control(label), label);
  await input.click();
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  await input.type(String(value));
  await page.keyboard.press('Tab');
  await settle(page);
  const shown = await input.evaluate((element) => element.value);
  await afterLeaving(input);
  await settle(page);
  await input.dispose();
  return { value: shown };
}

// Clicks `option` of the radio/checkbox group labelled `label`; fails unless it is then checked.
export async function chooseOption(page, label, option) {
  const choice = await page.evaluateHandle(
    (label, option) => window.__harness.option(label, option),
    label,
    option,
  );
  await choice.click();
  await settle(page);
  const checked = await choice.evaluate((element) => window.__harness.isChecked(element));
  await choice.dispose();
  if (!checked) throw new Error(`clicking ${JSON.stringify(option)} did not check it`);
  return {};
}

function reply(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

// Answers one JSON request a line on stdin with `commands[request.cmd](request)`, one JSON reply
// a line on stdout, in order; `ready` goes into the first line. Exits, ending Chromium (and then
// calling `onClose`), on "close", when stdin closes, or on SIGTERM/SIGINT/SIGHUP.
export async function serveCommands(browser, commands, { ready = {}, onClose = () => {} } = {}) {
  const browserProcess = browser.process();

  let closing = null;
  function shutdown(code) {
    closing ??= (async () => {
      const forced = setTimeout(() => browserProcess?.kill('SIGKILL'), 5000);
      try {
        await browser.close();
      } catch {
        browserProcess?.kill('SIGKILL');
      }
      clearTimeout(forced);
      onClose();
      process.exit(code);
    })();
    return closing;
  }

  process.on('SIGTERM', () => shutdown(143));
  process.on('SIGINT', () => shutdown(130));
  process.on('SIGHUP', () => shutdown(129));

  reply({
    ok: true,
    ready: true,
    ...ready,
    browser: await browser.version(),
    browserPid: browserProcess?.pid ?? null,
  });

  let queue = Promise.resolve();
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    queue = queue.then(async () => {
      let request;
      try {
        request = JSON.parse(line);
      } catch (error) {
        reply({ ok: false, error: `not JSON: ${error.message}` });
        return;
      }
      if (request.cmd === 'close') {
        reply({ ok: true });
        await shutdown(0);
        return;
      }
      const command = Object.hasOwn(commands, request.cmd) ? commands[request.cmd] : null;
      if (!command) {
        reply({ ok: false, error: `unknown command ${JSON.stringify(request.cmd)}` });
        return;
      }
      try {
        reply({ ok: true, ...(await command(request)) });
      } catch (error) {
        reply({ ok: false, error: error && error.message ? error.message : String(error) });
      }
    });
  });
  lines.on('close', () => {
    queue.then(() => shutdown(0));
  });
}
