package realtime

import "context"

// Transport wakes the followers of every instance when an event commits.
// A notification is only a hint carrying the newest event id: followers read
// the event table itself, so a transport may coalesce, reorder or (while it
// is down) lose notifications without losing events.
type Transport interface {
	// Notify announces that events up to id are committed.
	Notify(ctx context.Context, id int64) error
	// Listen calls wake for notifications from any instance (this one
	// included) until ctx ends, then returns nil. A burst may be merged into
	// one call carrying the highest id; wake(0) means "something may have
	// been missed, read anyway". wake must not block.
	Listen(ctx context.Context, wake func(id int64)) error
}
