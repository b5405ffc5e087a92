// socket.io-client 4 against the FlyLive server, as the apps use it (transports: ['websocket']).
// Usage: node sio_client.mjs '{"url": "...", "token": "...", "origin": "..."}'
// Prints one JSON object with what the client saw; exits non-zero on an unexpected failure.
import { io } from "socket.io-client";

const { url, token, origin } = JSON.parse(process.argv[2]);

function open(auth) {
  return io(url, {
    transports: ["websocket"],
    auth,
    reconnection: false,
    extraHeaders: origin ? { Origin: origin } : {},
  });
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

function nextEvent(socket, name) {
  return new Promise((resolve) => socket.once(name, (...args) => resolve(args)));
}

const result = {};

// A refused handshake surfaces as connect_error with the contract's text.
const refused = open({ token: "not-a-jwt" });
result.connectError = await connected(refused).then(() => "connected?!", (err) => err.message);
refused.close();

const socket = open({ token });
await connected(socket);
result.sid = socket.id;
const ack = (event, payload) => socket.timeout(5000).emitWithAck(event, payload);
result.echo = await ack("debug:echo", { text: "héllo 😀", data: { list: [1, 2.5, null], flag: true } });
result.invalid = await ack("debug:echo", "not an object");
result.plain = await ack("debug:plain", { value: 7 });
result.clientError = await ack("debug:fail", { kind: "client" });

// The server's custom `error` event is an ordinary event for socket.io-client 4.
const errorEvent = nextEvent(socket, "error");
socket.emit("debug:shout", { content: "" });
result.errorEvent = await errorEvent;

// A broadcast to a room this socket joined.
await ack("debug:join", { roomId: "js-room" });
const broadcast = nextEvent(socket, "room:userJoined");
await ack("debug:emit", { target: "room", roomId: "js-room", event: "room:userJoined", payload: { userId: 1 } });
result.broadcast = await broadcast;

socket.close();
console.log(JSON.stringify(result));
process.exit(0);
