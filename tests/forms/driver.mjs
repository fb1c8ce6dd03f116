// Renders Camunda forms with the real @bpmn-io/form-js viewer in headless Debian Chromium and
// acts on them as an operator would, for pytest (tests/fakes/form_browser.py): one JSON request
// a line on stdin, one JSON reply a line on stdout. It exits, and ends Chromium, when stdin closes.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

import puppeteer from 'puppeteer-core';

const require = createRequire(import.meta.url);
const FORM_JS = dirname(require.resolve('@bpmn-io/form-js/package.json'));
const FORM_JS_VERSION = JSON.parse(readFileSync(join(FORM_JS, 'package.json'), 'utf8')).version;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const VIEWPORT = { width: 1000, height: 800 };

// Runs in the page: finds fields by their visible label and reads what an operator sees.
function installHarness() {
  const NOT_A_TYPE = new Set(['label', 'error', 'description', 'grouplike']);

  const clean = (text) => text.replace(/\s+/g, ' ').trim();

  function labelText(label) {
    const copy = label.cloneNode(true);
    copy.querySelectorAll('.fjs-asterix, input').forEach((node) => node.remove());
    return clean(copy.textContent).replace(/\s*\*$/, '');
  }

  function typeOf(element) {
    for (const name of element.classList) {
      const match = /^fjs-form-field-(.+)$/.exec(name);
      if (match && !NOT_A_TYPE.has(match[1])) return match[1];
    }
    return null;
  }

  // The field's own label: the first label of the field that is not an option's (no input in it,
  // or a checkbox whose one input is the field's).
  function ownLabel(element) {
    const labels = [...element.querySelectorAll('label.fjs-form-field-label')].filter(
      (label) => label.closest('.fjs-form-field') === element,
    );
    if (typeOf(element) === 'checkbox') return labels[0] || null;
    return labels.find((label) => !label.querySelector('input')) || null;
  }

  function optionLabels(element) {
    return [...element.querySelectorAll('label.fjs-form-field-label')].filter(
      (label) => label.closest('.fjs-form-field') === element && label.querySelector('input'),
    );
  }

  function allFields() {
    return [...document.querySelectorAll('#form .fjs-form-field')].filter((element) =>
      typeOf(element),
    );
  }

  function fieldId(element) {
    const form = window.__form;
    if (!form) return null;
    const prefix = `fjs-form-${form._id}-`;
    const withId = element.querySelector('[id^="' + prefix + '"]');
    if (!withId) return null;
    const rest = withId.id.slice(prefix.length);
    const ids = form.get('formFieldRegistry').getAll().map((field) => field.id);
    return ids.find((id) => rest === id) || ids.find((id) => rest.startsWith(id + '-')) || null;
  }

  function find(label, types) {
    const matches = allFields().filter((element) => {
      const own = ownLabel(element);
      return own && labelText(own) === label && (!types || types.includes(typeOf(element)));
    });
    if (matches.length === 1) return matches[0];
    const labels = allFields()
      .map((element) => ownLabel(element))
      .filter(Boolean)
      .map(labelText);
    const what = types ? `${types.join('/')} field` : 'field';
    if (!matches.length) {
      const known = JSON.stringify(labels);
      throw new Error(`no ${what} labelled ${JSON.stringify(label)}; labels: ${known}`);
    }
    throw new Error(`${matches.length} fields labelled ${JSON.stringify(label)}`);
  }

  function shownErrors(element) {
    return [...element.querySelectorAll('.fjs-form-field-error li')]
      .filter((item) => item.closest('.fjs-form-field') === element)
      .map((item) => clean(item.textContent));
  }

  function valueOf(element) {
    const type = typeOf(element);
    const options = optionLabels(element);
    if (type === 'radio') {
      const checked = options.find((label) => label.querySelector('input').checked);
      return checked ? labelText(checked) : null;
    }
    if (type === 'checklist') {
      return options.filter((label) => label.querySelector('input').checked).map(labelText);
    }
    if (type === 'checkbox') {
      const input = element.querySelector('input[type="checkbox"]');
      return input ? input.checked : null;
    }
    const control = element.querySelector('textarea, input:not([type="hidden"])');
    if (control) return control.value;
    if (type === 'select') {
      const shown = element.querySelector('.fjs-select-display');
      return shown ? clean(shown.textContent) : null;
    }
    return element.innerText;
  }

  function describe(element) {
    const own = ownLabel(element);
    const controls = [...element.querySelectorAll('input, textarea, select')];
    return {
      id: fieldId(element),
      label: own ? labelText(own) : null,
      type: typeOf(element),
      value: valueOf(element),
      disabled:
        element.classList.contains('fjs-disabled') ||
        (controls.length > 0 && controls.every((control) => control.disabled)),
      required: Boolean(own && own.querySelector('.fjs-asterix')),
      options: optionLabels(element).map(labelText),
      errors: shownErrors(element),
      text: element.innerText,
    };
  }

  function control(label) {
    const element = find(label, null);
    const input = element.querySelector(
      'textarea, input:not([type="hidden"]):not([type="radio"]):not([type="checkbox"])',
    );
    if (!input) {
      throw new Error(`the ${typeOf(element)} field ${JSON.stringify(label)} has no text input`);
    }
    if (input.disabled) throw new Error(`the field ${JSON.stringify(label)} is disabled`);
    if (input.readOnly) throw new Error(`the field ${JSON.stringify(label)} is read-only`);
    return input;
  }

  function option(label, text) {
    const element = find(label, ['radio', 'checklist']);
    const options = optionLabels(element);
    const match = options.find((candidate) => labelText(candidate) === text);
    if (!match) {
      const known = JSON.stringify(options.map(labelText));
      const wanted = JSON.stringify(text);
      throw new Error(`${JSON.stringify(label)} has no option ${wanted}; options: ${known}`);
    }
    if (match.querySelector('input').disabled) {
      throw new Error(`the field ${JSON.stringify(label)} is disabled`);
    }
    return match;
  }

  // The form's data holds what the field shows: form-js hands typed text to the form only after
  // a debounce (300 ms), and a change to another field re-renders this one from the form's data.
  function synced(label) {
    const element = find(label, null);
    const form = window.__form;
    const field = form.get('formFieldRegistry').get(fieldId(element));
    if (!field || !field.key) return true;
    const stored = form._getState().data[field.key];
    const shown = control(label).value;
    if (typeOf(element) === 'number') {
      return shown === '' ? stored == null : Number(shown) === Number(stored);
    }
    return (stored ?? '') === shown;
  }

  window.__harness = {
    fields: () => allFields().map(describe),
    control,
    synced,
    option,
    isChecked: (label) => label.querySelector('input').checked,
    shownErrors: () => {
      const shown = {};
      for (const element of allFields()) {
        const errors = shownErrors(element);
        if (!errors.length) continue;
        const own = ownLabel(element);
        shown[own ? labelText(own) : fieldId(element) || typeOf(element)] = errors;
      }
      return shown;
    },
  };
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>form</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/form-js.css">
<script src="/form-viewer.umd.js"></script>
<script src="/harness.js"></script>
</head>
<body><div id="form"></div></body>
</html>`;

const FILES = {
  '/': ['text/html', PAGE],
  '/form-js.css': ['text/css', readFileSync(join(FORM_JS, 'dist/assets/form-js.css'))],
  // The viewer bundle Tasklist's `Form` comes from: window.FormViewer.Form.
  '/form-viewer.umd.js': [
    'text/javascript',
    readFileSync(join(FORM_JS, 'dist/form-viewer.umd.js')),
  ],
  '/harness.js': ['text/javascript', `(${installHarness})();`],
};

function serve() {
  const server = createServer((request, response) => {
    const file = FILES[request.url];
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': file[0] }).end(file[1]);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const server = await serve();
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  // Over a pipe, not a port: Chromium ends when this process does, even if it is killed.
  pipe: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    // Nothing but the local page: every other host name resolves to nothing.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-domain-reliability',
    '--no-pings',
  ],
  defaultViewport: VIEWPORT,
  handleSIGINT: false,
  handleSIGTERM: false,
  handleSIGHUP: false,
});
const browserProcess = browser.process();

let page = null;
let problems = [];

async function newPage() {
  if (page) await page.close();
  const opened = await browser.newPage();
  const seen = [];
  opened.setDefaultTimeout(15000);
  await opened.setRequestInterception(true);
  opened.on('request', (request) => {
    const url = request.url();
    if (url.startsWith(origin + '/') || url.startsWith('data:')) {
      request.continue();
    } else {
      seen.push(`blocked request: ${url}`);
      request.abort();
    }
  });
  opened.on('response', (response) => {
    if (response.status() >= 400) seen.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  opened.on('console', (message) => {
    if (message.type() === 'error') seen.push(`console: ${message.text()}`);
  });
  opened.on('pageerror', (error) => seen.push(`page error: ${error.message}`));
  await opened.goto(origin + '/', { waitUntil: 'load' });
  page = opened;
  problems = seen;
  return opened;
}

function currentPage() {
  if (!page) throw new Error('no form rendered yet: send "render" first');
  return page;
}

// After a DOM event, until the viewer has re-rendered (Preact renders on the next frames).
async function settle(target) {
  await target.evaluate(
    () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
  );
}

const commands = {
  async render({ schema, data }) {
    const target = await newPage();
    const warnings = await target.evaluate(
      async (schema, data) => {
        window.__form = new FormViewer.Form({ container: document.querySelector('#form') });
        const result = await window.__form.importSchema(schema, data || {});
        return result.warnings.map((warning) =>
          warning && warning.message ? String(warning.message) : JSON.stringify(warning),
        );
      },
      schema,
      data,
    );
    await settle(target);
    return { warnings };
  },

  async fill({ label, value }) {
    const target = currentPage();
    const input = await target.evaluateHandle((label) => window.__harness.control(label), label);
    await input.click();
    await target.keyboard.down('Control');
    await target.keyboard.press('KeyA');
    await target.keyboard.up('Control');
    await target.keyboard.press('Backspace');
    // A comment goes in at once, as pasted: typed key by key under load, a pause past form-js's
    // debounce lets a re-render from the form's data (still empty) wipe what was typed so far.
    // Numbers and short text are typed, so the fields' key filtering (decimals) is exercised.
    if (await input.evaluate((element) => element.tagName === 'TEXTAREA')) {
      await target.keyboard.sendCharacter(String(value));
    } else {
      await input.type(String(value));
    }
    await target.keyboard.press('Tab');
    // Until the form holds the typed value, so the next field's typing cannot be re-rendered
    // away by this one's late change (bounded: a value that never arrives fails the command).
    await target.waitForFunction((label) => window.__harness.synced(label), { timeout: 5000 }, label);
    await settle(target);
    const shown = await input.evaluate((element) => element.value);
    await input.dispose();
    return { value: shown };
  },

  async choose({ label, option }) {
    const target = currentPage();
    const choice = await target.evaluateHandle(
      (label, option) => window.__harness.option(label, option),
      label,
      option,
    );
    await choice.click();
    await settle(target);
    const checked = await choice.evaluate((element) => window.__harness.isChecked(element));
    await choice.dispose();
    if (!checked) throw new Error(`clicking ${JSON.stringify(option)} did not check it`);
    return {};
  },

  async submit() {
    const target = currentPage();
    const result = await target.evaluate(() => {
      const { data, errors } = window.__form.submit();
      return JSON.parse(JSON.stringify({ data, errors }));
    });
    await settle(target);
    const shownErrors = await target.evaluate(() => window.__harness.shownErrors());
    return { ...result, shownErrors };
  },

  async fields() {
    const target = currentPage();
    return target.evaluate(() => ({
      fields: window.__harness.fields(),
      text: document.querySelector('#form').innerText,
    }));
  },

  async screenshot({ path }) {
    await currentPage().screenshot({ path, fullPage: true });
    return { path };
  },

  async consoleErrors() {
    currentPage();
    return { errors: [...problems] };
  },

  async style({ selector, property }) {
    const value = await currentPage().evaluate(
      (selector, property) => {
        const element = document.querySelector(selector);
        if (!element) throw new Error(`nothing matches ${JSON.stringify(selector)}`);
        return getComputedStyle(element).getPropertyValue(property);
      },
      selector,
      property,
    );
    return { value };
  },

  async elementText({ selector }) {
    const text = await currentPage().evaluate((selector) => {
      const element = document.querySelector(selector);
      if (!element) throw new Error(`nothing matches ${JSON.stringify(selector)}`);
      return element.innerText;
    }, selector);
    return { text };
  },

  async count({ selector }) {
    const count = await currentPage().evaluate(
      (selector) => document.querySelectorAll(`.fjs-form ${selector}`).length,
      selector,
    );
    return { count };
  },
};

function reply(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

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
    server.close();
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
  formJs: FORM_JS_VERSION,
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
