// Two chromium pages join one room through the demo page; the first takes a seat and speaks (fake
// microphone), the second must receive its audio (WebRTC inbound-rtp bytes) and show it speaking.
// Then the admin's live-rooms page, logged in as staff. Screenshots go to OUT; the figures are
// printed as one JSON line for the Python test to check.
//   node demo_call.mjs '{"url", "tokens": [speaker, listener], "speakerId", "room", "admin": {"user", "password"}, "out"}'
import { chromium } from "playwright-core";

const args = JSON.parse(process.argv[2]);
const result = { steps: [] };
const step = (name) => result.steps.push(name);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_BIN || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  await context.grantPermissions(["microphone"], { origin: args.url });
  const pages = [];
  for (const token of args.tokens) {
    const page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error") result.steps.push(`console: ${m.text()}`); });
    await page.goto(`${args.url}/demo/`);
    await page.fill("#token", token);
    await page.fill("#room", args.room);
    await page.click("#join");
    await page.waitForFunction(() => window.flylive && window.flylive.state.roomId !== null, null, { timeout: 15000 });
    pages.push(page);
  }
  const [speaker, listener] = pages;
  step("joined");
  await speaker.click('.seat[data-index="0"]');
  await listener.waitForSelector(`.seat[data-index="0"][data-user="${args.speakerId}"]`, { timeout: 10000 });
  step("seated");
  await speaker.click("#speak");
  await speaker.waitForFunction(() => window.flylive.state.producer !== null, null, { timeout: 15000 });
  step("speaking");
  // Audio bytes from the speaker arrive at the listener.
  const deadline = Date.now() + 20000;
  do {
    result.inboundAudio = await listener.evaluate(() => window.flylive.inboundAudio());
    if ((result.inboundAudio[args.speakerId] || 0) > 5000) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  } while (Date.now() < deadline);
  if (!((result.inboundAudio[args.speakerId] || 0) > 5000)) throw new Error(`no audio: ${JSON.stringify(result.inboundAudio)}`);
  step("audio received");
  // The speaker highlighted on the listener's page (speaker:active from the server).
  await listener.waitForSelector(`#participants li.speaking[data-user="${args.speakerId}"]`, { timeout: 20000 });
  result.highlighted = await listener.$$eval("#participants li.speaking", (items) => items.map((i) => i.dataset.user));
  result.seatHighlighted = await listener.$$eval(".seat.speaking", (items) => items.map((i) => i.dataset.user));
  step("speaker highlighted");
  await speaker.screenshot({ path: `${args.out}/demo-speaker.png`, fullPage: true });
  await listener.screenshot({ path: `${args.out}/demo-listener.png`, fullPage: true });

  // The admin's live rooms with this room in it.
  const admin = await context.newPage();
  await admin.goto(`${args.url}/admin/login/?next=/admin/staff/liveroom/`);
  await admin.fill("#id_username", args.admin.user);
  await admin.fill("#id_password", args.admin.password);
  await admin.click('input[type="submit"]');
  await admin.waitForSelector(`tr[data-room="${args.room}"]`, { timeout: 10000 });
  result.adminRow = await admin.$eval(`tr[data-room="${args.room}"]`, (row) =>
    Array.from(row.querySelectorAll("td")).map((td) => td.textContent.trim()));
  await admin.screenshot({ path: `${args.out}/admin-live-rooms.png`, fullPage: true });
  await admin.goto(`${args.url}/admin/staff/liveroom/${args.room}/`);
  await admin.screenshot({ path: `${args.out}/admin-room.png`, fullPage: true });
  step("admin");
  result.ok = true;
} catch (error) {
  result.ok = false;
  result.error = String(error && error.stack || error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
