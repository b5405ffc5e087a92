"""FlyLive's mediasoup control library: drives mediasoup-worker over its FlatBuffers channel."""
