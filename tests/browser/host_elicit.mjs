#!/usr/bin/env node
// Browser test of the host page answering a server's questions (form elicitation), served
// by `widgetry host --url` in front of the conformance example server:
//
//   node tests/browser/host_elicit.mjs --url http://127.0.0.1:PORT/mcp [--artifacts DIR]
//
// In headless Debian chromium (playwright-core), generic MCP Apps profile:
// 1. 2025-11-25 (a session): `test_input_required_result_elicitation` makes the server send
//    `elicitation/create` on the call's event stream; the page shows the question as a form
//    (a required field left empty is refused on the page), the person answers, the page
//    answers the server in its own POST and the result greets the name given.
// 2. 2026-07-28 (no session): `test_input_required_result_multi_round` answers
//    `input_required` twice; the page asks both questions in turn and sends each answer
//    back with the server's request state; the result names both answers.
// 3. "Answer elicitation" off: the page no longer declares the capability, so the server
//    refuses the call (-32021, named capability) and the page shows that error, asking nothing.
// 4. Decline: the answer reaches the server as `decline` (the tool then says so).
// 5. Stop (the page's Cancel) while a question is open: the question goes, the server is
//    told (notifications/cancelled), nothing more is asked; the next call works.
// Prints one JSON line (the summary); on failure also the reason on stderr, exit status 1.
import {
  check, cleanups, hostEvents, lastResult, launchChromium, loadDeps, parseArgs, pickTool, poll,
  runDriver, STEP_MS,
} from './lib.mjs';

const summary = { ok: false, session: null, stateless: null, undeclared: null, declined: null, stopped: null };
let current = null; // the page, for the log on failure

/** Waits for the page's question `message`, checks the form refuses an empty required
 * field (when `checkRequired`), fills its text input with `answer` and submits. */
async function answer(page, message, value, { checkRequired = false } = {}) {
  await poll(`the page should ask ${JSON.stringify(message)}`, async () => {
    const shown = await page.$eval('#elicit-banner', (b) => !b.hidden);
    const text = await page.$eval('#elicit-message', (p) => p.textContent);
    return { ok: shown && text === message, got: { shown, text } };
  });
  const input = page.locator('#elicit-fields input').first();
  if (checkRequired) {
    await page.click('#elicit-accept');
    const err = await page.$eval('#elicit-error', (p) => (p.hidden ? '' : p.textContent));
    check(/required/.test(err), `submitting an empty required field should be refused on the page; got ${JSON.stringify(err)}`);
  }
  await input.fill(value);
  await page.click('#elicit-accept');
}

function resultText(result) {
  const c = result && Array.isArray(result.content) ? result.content : [];
  return c.filter((x) => x && x.type === 'text').map((x) => x.text).join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), { script: 'host_elicit.mjs', usage: '--url URL [--artifacts DIR]' });
  const deps = loadDeps({ mcp: false });
  const browser = await launchChromium(deps);
  cleanups.push(() => browser.close());
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(STEP_MS);
  current = page;
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught error: ${e.message}`));

  const origin = new URL(opts.url).origin;
  const res = await page.goto(`${origin}/_widgetry/host`);
  check(res && res.status() === 200, `GET ${origin}/_widgetry/host answered ${res && res.status()}`);
  const connected = async (what, re) => poll(what, async () => {
    const conn = await page.$eval('#conn', (e) => ({ state: e.dataset.state, text: e.textContent }));
    const tools = await page.$$eval('#tool option', (os) => os.map((o) => o.value));
    check(conn.state !== 'error', `the page could not connect: ${conn.text}`);
    return { ok: conn.state === 'ok' && re.test(conn.text) && tools.includes('test_input_required_result_elicitation'), got: { conn, tools: tools.length } };
  });
  await connected('the page should list the conformance server\'s tools', /^connected$/);
  await page.selectOption('#profile', 'generic');
  check(await page.isChecked('#elicit'), 'the page should answer elicitation by default');

  // 1. Inside a session: the server's own request on the call's stream.
  await pickTool(page, 'test_input_required_result_elicitation');
  let from = (await hostEvents(page)).length;
  await page.click('#run');
  await answer(page, 'What is your name?', 'Ada', { checkRequired: true });
  let { result } = await lastResult(page, 'test_input_required_result_elicitation', from);
  const asked = (await hostEvents(page)).slice(from).filter((e) => e.summary.startsWith('server request elicitation/create')).length;
  summary.session = { text: resultText(result), serverRequests: asked };
  check(summary.session.text === 'Hello, Ada!', `the 2025-11-25 call should greet Ada; got ${JSON.stringify(result)}`);
  check(asked === 1, `the question should have come as one server request in the session; saw ${asked}`);
  check(await page.$eval('#elicit-banner', (b) => b.hidden), 'the question should be gone once answered');

  // 2. 2026-07-28: input_required rounds, each answer sent back with the request state.
  await page.selectOption('#protocol', '2026-07-28');
  await connected('the page should reconnect statelessly', /stateless/);
  await pickTool(page, 'test_input_required_result_multi_round');
  from = (await hostEvents(page)).length;
  await page.click('#run');
  await answer(page, 'Step 1: What is your name?', 'Ada');
  await answer(page, 'Step 2: What is your favorite color?', 'green');
  ({ result } = await lastResult(page, 'test_input_required_result_multi_round', from));
  const rounds = (await hostEvents(page)).slice(from).filter((e) => / asks for input step\d /.test(e.summary)).length;
  summary.stateless = { text: resultText(result), rounds, resultType: result && result.resultType };
  check(summary.stateless.text === 'Ada likes green', `the 2026-07-28 call should combine both answers; got ${JSON.stringify(result)}`);
  check(rounds === 2, `the server should have asked in two input rounds; saw ${rounds}`);

  // 3. Not declared: the server must not ask, and says which capability is missing.
  await page.uncheck('#elicit');
  await connected('the page should reconnect without elicitation', /stateless/);
  await pickTool(page, 'test_input_required_result_elicitation');
  from = (await hostEvents(page)).length;
  await page.click('#run');
  const refused = await poll('the call should be refused for the undeclared capability', async () => {
    const err = await page.$eval('#run-error', (p) => (p.hidden ? '' : p.textContent));
    return { ok: /elicitation/.test(err), got: err };
  });
  summary.undeclared = { error: refused.got, asked: !(await page.$eval('#elicit-banner', (b) => b.hidden)) };
  check(!summary.undeclared.asked, 'the page asked a question it did not declare it answers');

  // 4. Decline: sent as such (the request-state tool finishes on any answer and says which).
  await page.check('#elicit');
  await connected('the page should reconnect with elicitation again', /stateless/);
  await pickTool(page, 'test_input_required_result_request_state');
  from = (await hostEvents(page)).length;
  await page.click('#run');
  await poll('the page should ask for confirmation', async () => {
    const text = await page.$eval('#elicit-message', (p) => p.textContent);
    return { ok: !(await page.$eval('#elicit-banner', (b) => b.hidden)) && text === 'Please confirm', got: text };
  });
  await page.click('#elicit-decline');
  ({ result } = await lastResult(page, 'test_input_required_result_request_state', from));
  const sent = (await hostEvents(page)).slice(from).filter((e) => e.kind === 'elicit' && e.summary === 'answered decline').length;
  summary.declined = { text: resultText(result), sent };
  check(sent === 1 && /^state-ok/.test(summary.declined.text), `the declined question should have been answered once and the call finished; got ${JSON.stringify(summary.declined)}`);

  // 5. Stop while the server waits for an answer (2025-11-25): the question goes, the
  //    server hears notifications/cancelled, nothing more is asked, and the session still works.
  await page.selectOption('#protocol', '2025-11-25');
  await connected('the page should reconnect with a session', /^connected$/);
  await pickTool(page, 'test_input_required_result_elicitation');
  from = (await hostEvents(page)).length;
  await page.click('#run');
  await poll('the page should ask again', async () => {
    const shown = !(await page.$eval('#elicit-banner', (b) => b.hidden));
    return { ok: shown, got: shown };
  });
  await page.click('#cancel');
  await page.waitForTimeout(1500); // a server that asks again would do it within this
  const afterStop = (await hostEvents(page)).slice(from);
  summary.stopped = {
    notified: afterStop.some((e) => e.summary.includes('notifications/cancelled')),
    askedAgain: !(await page.$eval('#elicit-banner', (b) => b.hidden)),
    results: afterStop.filter((e) => e.kind === 'result').length,
    runReady: await page.$eval('#run', (b) => !b.disabled && b.textContent === 'Run'),
  };
  check(summary.stopped.notified && !summary.stopped.askedAgain && summary.stopped.results === 0 && summary.stopped.runReady,
    `stopping the call should end it on the page and tell the server; got ${JSON.stringify(summary.stopped)}`);
  from = (await hostEvents(page)).length;
  await page.click('#run');
  await answer(page, 'What is your name?', 'Grace');
  ({ result } = await lastResult(page, 'test_input_required_result_elicitation', from));
  summary.stopped.next = resultText(result);
  check(summary.stopped.next === 'Hello, Grace!', `the next call in the session should work; got ${JSON.stringify(result)}`);

  check(!problems.length, `the page had errors: ${problems.join(' | ')}`);
  await page.screenshot({ path: `${opts.artifacts}/host-elicit.png`, fullPage: true });
  summary.ok = true;
}

runDriver({
  name: 'host_elicit.mjs', summary, overallMs: 120_000, main,
  onFailure: async () => {
    if (current) summary.log = (await hostEvents(current).catch(() => [])).slice(-12).map((e) => `${e.kind}: ${e.summary}`);
  },
});
