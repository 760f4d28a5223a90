// Package realtime carries committed events to open Server-Sent Events
// streams: a Follower tails the event table in id order, a Hub renders each
// event once per audience and fans the frames out to bounded per-connection
// queues, and Serve writes one stream, replaying what a reconnecting client
// missed. A Transport wakes the followers of every instance when an event
// commits; the event table, not the transport, is the source of truth, so a
// lost or reordered notification only delays delivery until the next poll.
package realtime
