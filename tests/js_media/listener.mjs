// A JS listener, as the production app runs it: socket.io-client 4 + mediasoup-client 3 on
// libwebrtc (@roamhq/wrtc). Joins a room, consumes every producer (existing and announced),
// decodes the audio and prints one JSON line: {"producers": {id: {frames, loudFrames}}, ...}.
// Usage: node listener.mjs URL TOKEN ROOM_ID SECONDS
import wrtc from '@roamhq/wrtc';

Object.assign(globalThis, {
  RTCPeerConnection: wrtc.RTCPeerConnection,
  RTCSessionDescription: wrtc.RTCSessionDescription,
  RTCIceCandidate: wrtc.RTCIceCandidate,
  MediaStream: wrtc.MediaStream,
  MediaStreamTrack: wrtc.MediaStreamTrack,
});

const { Device } = await import('mediasoup-client');
const { io } = await import('socket.io-client');

const [url, token, roomId, seconds] = process.argv.slice(2);
const result = { producers: {}, errors: [] };
const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false });
await new Promise((resolve, reject) => {
  socket.once('connect', resolve);
  socket.once('connect_error', reject);
});

const join = await socket.emitWithAck('room:join', { roomId });
const device = new Device({ handlerName: 'Chrome111' });
await device.load({ routerRtpCapabilities: join.rtpCapabilities });
const created = await socket.emitWithAck('transport:create', { type: 'consumer', roomId });
if (!created.success) throw new Error(`transport:create: ${created.error}`);
const recv = device.createRecvTransport(created.data);
recv.on('connect', ({ dtlsParameters }, callback, errback) => {
  socket.emitWithAck('transport:connect', { roomId, transportId: recv.id, dtlsParameters })
    .then((ack) => (ack.success ? callback() : errback(new Error(ack.error))));
});

const sinks = [];
async function consume(producerId) {
  if (result.producers[producerId]) return;
  const stats = (result.producers[producerId] = { frames: 0, loudFrames: 0 });
  const ack = await socket.emitWithAck('audio:consume', {
    roomId, transportId: recv.id, producerId, rtpCapabilities: device.rtpCapabilities,
  });
  if (!ack.success) {
    result.errors.push(`audio:consume ${producerId}: ${ack.error}`);
    return;
  }
  const consumer = await recv.consume(ack.data);
  const sink = new wrtc.nonstandard.RTCAudioSink(consumer.track);
  sink.ondata = ({ samples }) => {
    let sum = 0;
    for (const s of samples) sum += s * s;
    stats.frames += 1;
    if (Math.sqrt(sum / samples.length) > 500) stats.loudFrames += 1;
  };
  sinks.push(sink);
  const resumed = await socket.emitWithAck('consumer:resume', { roomId, consumerId: ack.data.id });
  if (!resumed.success) result.errors.push(`consumer:resume: ${resumed.error}`);
}

socket.on('audio:newProducer', ({ producerId }) => consume(producerId).catch((e) => result.errors.push(String(e))));
for (const { producerId } of join.existingProducers) await consume(producerId);
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
for (const sink of sinks) sink.stop();
recv.close();
socket.close();
console.log(JSON.stringify(result));
process.exit(0);
