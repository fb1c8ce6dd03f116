// The real Camunda 7 Tasklist in headless Debian Chromium, used as an operator uses it, for
// pytest (tests/fakes/tasklist_browser.py): its login page, the filters, the task list, Claim,
// the form Tasklist renders from the deployed .form, Complete. One JSON request a line on stdin,
// one JSON reply a line on stdout; it exits, and ends Chromium, when stdin closes. Nothing but
// the engine's origin (argv[2]) is reachable: every other request is blocked and reported.
import { installHarness } from '../forms/harness.mjs';
import {
  allowed,
  chooseOption,
  fillField,
  launchBrowser,
  serveCommands,
  settle,
} from '../forms/session.mjs';

const ORIGIN = new URL(process.argv[2]).origin;
// Tall enough that Tasklist's task pane (its own scroll area) shows a whole form.
const VIEWPORT = { width: 1400, height: 2000 };
const FORM = '.task-details .fjs-form';
// What an operator's session asks before login, and answers 404 by design: the current user
// (nobody yet) and Camunda's welcome page link.
const EXPECTED_404 = [/\/camunda\/api\/admin\/auth\/user\/default$/, /\/camunda-welcome$/];

const browser = await launchBrowser(VIEWPORT);

// One session (its own cookies: one logged-in user) at a time.
let session = null;

async function openSession() {
  if (session) await session.context.close();
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const state = { context, page, problems: [], writes: [] };
  page.setDefaultTimeout(30000);
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    const url = request.url();
    if (!allowed(url, ORIGIN)) {
      state.problems.push(`blocked request: ${url}`);
      request.abort();
      return;
    }
    if (!['GET', 'HEAD', 'OPTIONS'].includes(request.method())) {
      state.writes.push({
        method: request.method(),
        path: url.slice(ORIGIN.length),
        body: request.postData() || null,
        status: null,
      });
    }
    request.continue();
  });
  page.on('response', (response) => {
    const url = response.url();
    const write = state.writes.findLast(
      (w) =>
        w.status === null && ORIGIN + w.path === url && w.method === response.request().method(),
    );
    if (write) write.status = response.status();
    if (response.status() >= 400 && !EXPECTED_404.some((pattern) => pattern.test(url))) {
      state.problems.push(`HTTP ${response.status()}: ${response.request().method()} ${url}`);
    }
  });
  page.on('console', (message) => {
    const text = message.text();
    // Chromium's echo of the expected 404s above.
    if (message.type() === 'error' && !text.includes('status of 404')) {
      state.problems.push(`console: ${text}`);
    }
  });
  page.on('pageerror', (error) => state.problems.push(`page error: ${error.message}`));
  session = state;
  return state;
}

function current() {
  if (!session) throw new Error('not logged in: send "login" first');
  return session;
}

const clean = (text) => text.replace(/\s+/g, ' ').trim();

// Clicks the first element matching `selector` whose text is `text` (whitespace collapsed).
async function clickByText(page, selector, text) {
  const clicked = await page.evaluate(
    (selector, text) => {
      const clean = (t) => t.replace(/\s+/g, ' ').trim();
      const match = [...document.querySelectorAll(selector)].find(
        (element) => clean(element.textContent) === text && element.offsetParent !== null,
      );
      if (!match) {
        const seen = [...document.querySelectorAll(selector)].map((e) => clean(e.textContent));
        return JSON.stringify(seen);
      }
      match.click();
      return null;
    },
    selector,
    text,
  );
  if (clicked !== null) throw new Error(`no ${selector} reads ${JSON.stringify(text)}; ${clicked}`);
}

async function harness(page) {
  await page.waitForSelector(`${FORM} .fjs-form-field`, { visible: true });
  await page.evaluate(
    (source, root) => {
      if (!window.__harness) new Function(`(${source})(${JSON.stringify(root)})`)();
    },
    installHarness.toString(),
    FORM,
  );
}

const commands = {
  // The real login page (its CSRF cookie and header are Tasklist's own business).
  async login({ user, password }) {
    const { page } = await openSession();
    // Until the app has stopped loading: typing into a sign-in form that Angular has not bound
    // yet is lost, and the submit then signs nobody in.
    await page.goto(`${ORIGIN}/camunda/app/tasklist/`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('form[name="signinForm"] input[ng-model="username"]', {
      visible: true,
    });
    await page.type('input[ng-model="username"]', user);
    await page.type('input[ng-model="password"]', password);
    const typed = await page.$eval('input[ng-model="username"]', (input) => input.value);
    if (typed !== user) {
      throw new Error(`login: the user name field holds ${JSON.stringify(typed)}`);
    }
    await page.click('form[name="signinForm"] button[type="submit"]');
    // The first filter list after a sign-in loads the filters and their counts: slow on a
    // loaded machine.
    await page.waitForSelector('.task-filters .task-filter', { visible: true, timeout: 90000 });
    return {};
  },

  async filters() {
    const { page } = current();
    const names = await page.$$eval('.task-filters .task-filter h4.name a', (links) =>
      links.map((link) => link.childNodes[0].textContent.replace(/\s+/g, ' ').trim()),
    );
    return { filters: names };
  },

  async openFilter({ name }) {
    const { page } = current();
    await page.evaluate((name) => {
      const clean = (t) => t.replace(/\s+/g, ' ').trim();
      const filter = [...document.querySelectorAll('.task-filters .task-filter')].find(
        (f) => clean(f.querySelector('h4.name a').childNodes[0].textContent) === name,
      );
      if (!filter) throw new Error(`no filter named ${JSON.stringify(name)}`);
      filter.click();
    }, name);
    await page.waitForFunction(
      (name) => {
        const active = document.querySelector('.task-filters .task-filter.active h4.name a');
        return active && active.childNodes[0].textContent.replace(/\s+/g, ' ').trim() === name;
      },
      {},
      name,
    );
    return {};
  },

  // The task cards of the open filter, as listed (Tasklist refreshes the list by itself).
  async tasks() {
    const { page } = current();
    const tasks = await page.$$eval('.tasks-list li.task', (items) =>
      items.map((item) => {
        const link = item.querySelector('h4.task a');
        const definition = item.querySelector('.process-definition');
        return {
          id: (link.getAttribute('href') || '').split('task=')[1] || null,
          name: link.textContent.replace(/\s+/g, ' ').trim(),
          process: definition ? definition.textContent.replace(/\s+/g, ' ').trim() : null,
          text: item.innerText,
        };
      }),
    );
    return { tasks };
  },

  // Click the task's card in the list; wait for its header and the form Tasklist renders.
  async openTask({ id }) {
    const { page } = current();
    const link = await page.waitForSelector(`.tasks-list li.task h4.task a[href$="task=${id}"]`);
    await link.click();
    await link.dispose();
    await page.waitForFunction(
      (id) => window.location.hash.includes(id) && document.querySelector('.task-card h2.task'),
      {},
      id,
    );
    await harness(page);
    await settle(page);
    const header = await page.$eval('.task-card h2.task', (e) => e.textContent);
    const groups = await page.$eval('.task-card .groups', (e) => e.textContent).catch(() => '');
    return { name: clean(header), groups: clean(groups) };
  },

  async claim() {
    const { page } = current();
    await page.click('.task-card button.claim');
    await page.waitForSelector(
      '.task-card .assignee .unclaim, .task-card .assignee [cam-widget-inline-field]',
      { visible: true },
    );
    await page.waitForFunction(
      (form) =>
        [...document.querySelectorAll(`${form} input, ${form} textarea`)].some((c) => !c.disabled),
      {},
      FORM,
    );
    await settle(page);
    const assignee = await page.$eval('.task-card .assignee', (e) => e.textContent);
    return { assignee: clean(assignee) };
  },

  async fields() {
    const { page } = current();
    await harness(page);
    return page.evaluate(
      (form) => ({
        fields: window.__harness.fields(),
        text: document.querySelector(form).innerText,
      }),
      FORM,
    );
  },

  async fill({ label, value }) {
    const { page } = current();
    await harness(page);
    return fillField(page, label, value);
  },

  async choose({ label, option }) {
    const { page } = current();
    await harness(page);
    return chooseOption(page, label, option);
  },

  // Tasklist's Complete button; then until the task has left the open task pane (completed)
  // or the form shows why not. The requests it made are in "writes".
  async complete({ id }) {
    const { page } = current();
    const before = session.writes.length;
    await clickByText(page, '.task-details button', 'Complete');
    await page.waitForFunction(
      (id, form) => {
        const stillOpen = window.location.hash.includes(id) && document.querySelector(form);
        const errors = document.querySelectorAll(`${form} .fjs-form-field-error li`).length;
        return !stillOpen || errors > 0;
      },
      { polling: 100 },
      id,
      FORM,
    );
    await settle(page);
    const shownErrors = await page
      .evaluate(() => (window.__harness ? window.__harness.shownErrors() : {}))
      .catch(() => ({}));
    // Until every request the click caused has had its answer.
    const deadline = Date.now() + 30000;
    while (session.writes.slice(before).some((write) => write.status === null)) {
      if (Date.now() > deadline) throw new Error('Complete: a request got no answer in 30 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { shownErrors, writes: session.writes.slice(before) };
  },

  // Labels and texts of the form that Tasklist's layout cuts off (wider than their box).
  async clipped() {
    const { page } = current();
    const clipped = await page.evaluate(
      (form) =>
        [...document.querySelectorAll(`${form} label, ${form} .fjs-form-field-description`)]
          .filter((element) => element.scrollWidth > element.clientWidth + 1)
          .map((element) => element.textContent.replace(/\s+/g, ' ').trim()),
      FORM,
    );
    return { clipped };
  },

  async screenshot({ path }) {
    await current().page.screenshot({ path, fullPage: true });
    return { path };
  },

  async problems() {
    return { problems: [...current().problems] };
  },
};

await serveCommands(browser, commands);
