'use strict';
// A bare Socket.IO 4 room server, used only to calibrate the machine for the chat figure
// (bench/chat_reference.py). It is not the server we replace and not ours: no token check, no
// Redis, no rate limit, no seats or media. It answers `room:join` with the fields the load
// generator checks, announces the joiner to the room, and broadcasts `chat:message` with the
// same fields (and so the same frame size) as our server, from one process.
const { randomUUID } = require('node:crypto');
const { Server } = require('socket.io');

const port = Number(process.argv[2]); // required: Server(0) would not listen
const io = new Server(port, { cors: { origin: true }, transports: ['websocket'] });
const rooms = new Map(); // roomId -> Map(userId -> participant)

function claimsOf(socket) {
  try {
    const payload = String(socket.handshake.auth.token).split('.')[1];
    return JSON.parse(Buffer.from(payload, 'base64url').toString());
  } catch {
    return {};
  }
}

io.on('connection', (socket) => {
  const claims = claimsOf(socket);
  const userId = Number(claims.id);
  socket.on('room:join', (payload, ack) => {
    const roomId = String(payload && payload.roomId);
    if (!rooms.has(roomId)) rooms.set(roomId, new Map());
    const members = rooms.get(roomId);
    const me = { id: userId, name: claims.name, avatar: claims.avatar, role: 'listener' };
    const participants = [...members.values()];
    members.set(userId, me);
    socket.data.roomId = roomId;
    socket.join(roomId);
    if (typeof ack === 'function') ack({ rtpCapabilities: {}, participants, seats: [] });
    socket.to(roomId).emit('room:userJoined', { userId, name: me.name, avatar: me.avatar, role: me.role });
  });
  socket.on('chat:message', (payload) => {
    if (!payload || typeof payload.roomId !== 'string') return;
    io.to(payload.roomId).emit('chat:message', {
      id: randomUUID(), userId, userName: claims.name, avatar: claims.avatar,
      content: payload.content, type: 'text', timestamp: Date.now(),
    });
  });
  socket.on('disconnect', () => {
    const members = rooms.get(socket.data.roomId);
    if (members) members.delete(userId);
  });
});
io.httpServer.on('listening', () => console.log(`listening on ${io.httpServer.address().port}`));
