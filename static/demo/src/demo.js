// The FlyLive demo page: join a room with a token, see participants and seats, take a seat, speak,
// hear the others, see who speaks, chat and send a gift. socket.io-client + mediasoup-client,
// exactly as the apps use them (websocket transport only). `window.flylive` exposes the state and
// the WebRTC figures for the browser test.
import { io } from "socket.io-client";
import { Device } from "mediasoup-client";

const SEATS = 15;
const $ = (selector) => document.querySelector(selector);

const state = {
  socket: null,
  roomId: null,
  me: null, // the token's claims
  participants: new Map(), // userId -> {id, name}
  seats: new Map(), // seatIndex -> {userId, isMuted}
  locked: new Set(),
  speaking: new Set(), // user ids the server reports as active speakers (speaker:active)
  producers: new Map(), // producerId -> userId (the others')
  device: null,
  sendTransport: null,
  recvTransport: null,
  producer: null,
  consumers: new Map(), // consumerId -> {consumer, userId, audio}
  log: [],
};

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch {
    return null;
  }
}

function say(text) {
  state.log.push(text);
  const line = document.createElement("li");
  line.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("#log").prepend(line);
}

function nameOf(userId) {
  const p = state.participants.get(userId);
  return p ? `${p.name} (${userId})` : `user ${userId}`;
}

function request(event, payload) {
  return new Promise((resolve, reject) => {
    state.socket.timeout(10000).emit(event, payload, (err, answer) => {
      if (err) reject(new Error(`${event}: no answer`));
      else resolve(answer);
    });
  });
}

async function media(event, payload) {
  const answer = await request(event, payload);
  if (!answer || answer.success !== true) throw new Error(`${event}: ${answer && answer.error}`);
  return answer.data;
}

// -- rendering ------------------------------------------------------------------------------------

function render() {
  const list = $("#participants");
  list.replaceChildren();
  for (const [userId, p] of state.participants) {
    const item = document.createElement("li");
    item.dataset.user = String(userId);
    item.textContent = `${p.name} (${userId})${state.me && userId === state.me.id ? " — you" : ""}`;
    if (state.speaking.has(userId)) item.classList.add("speaking");
    list.append(item);
  }
  const seats = $("#seats");
  seats.replaceChildren();
  for (let index = 0; index < SEATS; index++) {
    const seat = state.seats.get(index);
    const cell = document.createElement("button");
    cell.className = "seat";
    cell.dataset.index = String(index);
    cell.textContent = seat ? `${index}: ${nameOf(seat.userId)}${seat.isMuted ? " (muted)" : ""}` : `${index}: free`;
    if (state.locked.has(index)) {
      cell.classList.add("locked");
      cell.textContent += " 🔒";
    }
    if (seat) {
      cell.classList.add("taken");
      cell.dataset.user = String(seat.userId);
      if (state.speaking.has(seat.userId)) cell.classList.add("speaking");
    }
    cell.disabled = !state.roomId || Boolean(seat) || state.locked.has(index);
    cell.addEventListener("click", () => takeSeat(index).catch((e) => say(`seat: ${e.message}`)));
    seats.append(cell);
  }
  $("#status").textContent = state.roomId ? `in room ${state.roomId} as ${nameOf(state.me.id)}` : "not connected";
  $("#speak").disabled = !state.roomId || Boolean(state.producer);
}

// -- room -----------------------------------------------------------------------------------------

async function connect(event) {
  event.preventDefault();
  const url = $("#server").value.trim();
  const token = $("#token").value.trim();
  const roomId = $("#room").value.trim();
  state.me = claimsOf(token);
  if (!state.me) return say("that token is not a JWT");
  if (state.socket) state.socket.disconnect();
  const socket = io(url, { transports: ["websocket"], auth: { token }, reconnection: false });
  state.socket = socket;
  socket.on("connect_error", (err) => say(`connect_error: ${err.message}`));
  socket.on("disconnect", (reason) => {
    say(`disconnected (${reason})`);
    state.roomId = null;
    render();
  });
  socket.on("room:userJoined", ({ userId, user }) => {
    state.participants.set(userId, { id: userId, name: user.name });
    say(`${nameOf(userId)} joined`);
    render();
  });
  socket.on("room:userLeft", ({ userId }) => {
    say(`${nameOf(userId)} left`);
    state.participants.delete(userId);
    render();
  });
  socket.on("room:closed", ({ reason }) => {
    say(`room closed (${reason})`);
    state.roomId = null;
    render();
  });
  socket.on("seat:updated", ({ seatIndex, userId, isMuted }) => {
    for (const [i, s] of state.seats) if (s.userId === userId) state.seats.delete(i);
    state.seats.set(seatIndex, { userId, isMuted });
    render();
  });
  socket.on("seat:cleared", ({ seatIndex }) => {
    state.seats.delete(seatIndex);
    render();
  });
  socket.on("seat:locked", ({ seatIndex, isLocked }) => {
    if (isLocked) state.locked.add(seatIndex);
    else state.locked.delete(seatIndex);
    render();
  });
  socket.on("seat:userMuted", ({ userId, isMuted }) => {
    for (const s of state.seats.values()) if (s.userId === userId) s.isMuted = isMuted;
    render();
  });
  socket.on("speaker:active", ({ activeSpeakers }) => {
    state.speaking = new Set(activeSpeakers);
    render();
  });
  socket.on("audio:newProducer", ({ producerId, userId }) => {
    consume(producerId, userId).catch((e) => say(`consume: ${e.message}`));
  });
  socket.on("audio:producerClosed", ({ producerId }) => {
    state.producers.delete(producerId);
    for (const [id, c] of state.consumers) {
      if (c.consumer.producerId === producerId) {
        c.consumer.close();
        c.audio.remove();
        state.consumers.delete(id);
      }
    }
  });
  socket.on("chat:message", ({ userName, content }) => say(`${userName}: ${content}`));
  socket.on("gift:received", ({ senderId, giftId, recipientId, quantity }) =>
    say(`${nameOf(senderId)} sent gift ${giftId} x${quantity} to ${nameOf(recipientId)}`));
  socket.on("error", ({ message }) => say(`error: ${message}`));
  await new Promise((resolve) => socket.once("connect", resolve));
  const joined = await request("room:join", { roomId });
  if (joined.error) return say(`room:join: ${joined.error}`);
  state.roomId = roomId;
  state.participants = new Map([[state.me.id, { id: state.me.id, name: state.me.name }]]);
  for (const p of joined.participants) state.participants.set(p.id, { id: p.id, name: p.name });
  state.seats = new Map(joined.seats.map((s) => [s.seatIndex, { userId: s.userId, isMuted: s.isMuted }]));
  state.locked = new Set(joined.lockedSeats);
  state.device = new Device();
  await state.device.load({ routerRtpCapabilities: joined.rtpCapabilities });
  say(`joined room ${roomId}`);
  render();
  for (const { producerId, userId } of joined.existingProducers) await consume(producerId, userId);
}

async function takeSeat(index) {
  const answer = await request("seat:take", { roomId: state.roomId, seatIndex: index });
  if (!answer.success) throw new Error(answer.error);
  for (const [i, s] of state.seats) if (s.userId === state.me.id) state.seats.delete(i);
  state.seats.set(index, { userId: state.me.id, isMuted: false });
  render();
}

// -- media ----------------------------------------------------------------------------------------

async function transport(direction) {
  const params = await media("transport:create", { roomId: state.roomId, type: direction });
  const t = direction === "producer" ? state.device.createSendTransport(params) : state.device.createRecvTransport(params);
  t.on("connect", ({ dtlsParameters }, done, fail) => {
    media("transport:connect", { roomId: state.roomId, transportId: t.id, dtlsParameters }).then(() => done(), fail);
  });
  if (direction === "producer") {
    t.on("produce", ({ kind, rtpParameters }, done, fail) => {
      media("audio:produce", { roomId: state.roomId, transportId: t.id, kind, rtpParameters })
        .then((data) => done({ id: data.id }), fail);
    });
  }
  return t;
}

async function speak() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  state.sendTransport = state.sendTransport || (await transport("producer"));
  state.producer = await state.sendTransport.produce({ track: stream.getAudioTracks()[0] });
  say("speaking");
  render();
}

async function consume(producerId, userId) {
  if (!state.device || userId === state.me.id || state.producers.has(producerId)) return;
  state.producers.set(producerId, userId);
  state.recvTransport = state.recvTransport || (await transport("consumer"));
  const data = await media("audio:consume", {
    roomId: state.roomId, transportId: state.recvTransport.id, producerId,
    rtpCapabilities: state.device.rtpCapabilities,
  });
  const consumer = await state.recvTransport.consume(data);
  const audio = document.createElement("audio");
  audio.autoplay = true;
  audio.srcObject = new MediaStream([consumer.track]);
  $("#audio").append(audio);
  state.consumers.set(consumer.id, { consumer, userId, audio });
  await media("consumer:resume", { roomId: state.roomId, consumerId: consumer.id });
  say(`listening to ${nameOf(userId)}`);
}

async function inboundAudio() {
  // Bytes received per producing user, from the receive transport's WebRTC stats.
  const byUser = {};
  for (const { consumer, userId } of state.consumers.values()) {
    const stats = await consumer.getStats();
    for (const report of stats.values()) {
      if (report.type === "inbound-rtp" && report.kind === "audio") {
        byUser[userId] = (byUser[userId] || 0) + report.bytesReceived;
      }
    }
  }
  return byUser;
}

// -- chat and gifts -------------------------------------------------------------------------------

function sendChat(event) {
  event.preventDefault();
  const content = $("#chat-text").value;
  if (!state.roomId || !content) return;
  state.socket.emit("chat:message", { roomId: state.roomId, content });
  $("#chat-text").value = "";
}

function sendGift(event) {
  event.preventDefault();
  if (!state.roomId) return;
  state.socket.emit("gift:send", {
    roomId: state.roomId, giftId: Number($("#gift-id").value), recipientId: Number($("#gift-to").value), quantity: 1,
  });
  say("gift sent");
}

$("#join-form").addEventListener("submit", (e) => connect(e).catch((err) => say(`join: ${err.message}`)));
$("#speak").addEventListener("click", () => speak().catch((err) => say(`speak: ${err.message}`)));
$("#chat-form").addEventListener("submit", sendChat);
$("#gift-form").addEventListener("submit", sendGift);
render();

window.flylive = { state, inboundAudio, takeSeat, speak };
