package realtime

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// redisNotifyTimeout bounds a Notify when Redis cannot be reached (with
	// go-redis's default dial retries a refused connection would otherwise
	// take over a second).
	redisNotifyTimeout = 500 * time.Millisecond
	// redisBackOff is how long Notify fails at once, without trying, after
	// a failure: during an outage only one Notify a second waits.
	redisBackOff = time.Second
)

// RedisTransport carries notifications between instances over one Redis
// Pub/Sub channel. Redis only wakes followers: while it is down, Notify fails
// fast, each instance still wakes its own follower directly, and the other
// instances catch up on their poll ticker.
type RedisTransport struct {
	client  redis.UniversalClient
	channel string
	log     *slog.Logger

	mu        sync.Mutex
	downUntil time.Time
	downErr   error
}

// NewRedisTransport returns a Transport publishing to and subscribing on
// channel through client (a logger of nil means slog.Default()).
func NewRedisTransport(client redis.UniversalClient, channel string, logger *slog.Logger) *RedisTransport {
	if logger == nil {
		logger = slog.Default()
	}
	return &RedisTransport{client: client, channel: channel, log: logger}
}

// Notify publishes id on the channel. It gives up after half a second, and
// for a second after a failure it fails at once without trying: a Redis
// outage must not hold up the requests that commit events.
func (t *RedisTransport) Notify(ctx context.Context, id int64) error {
	t.mu.Lock()
	if time.Now().Before(t.downUntil) {
		err := t.downErr
		t.mu.Unlock()
		return fmt.Errorf("realtime: redis notify %d: not tried, Redis failed recently: %w", id, err)
	}
	t.mu.Unlock()

	pctx := ctx
	ctx, cancel := context.WithTimeout(ctx, redisNotifyTimeout)
	defer cancel()
	if err := t.client.Publish(ctx, t.channel, strconv.FormatInt(id, 10)).Err(); err != nil {
		if pctx.Err() == nil { // the caller giving up says nothing about Redis
			t.mu.Lock()
			t.downUntil = time.Now().Add(redisBackOff)
			t.downErr = err
			t.mu.Unlock()
		}
		return fmt.Errorf("realtime: redis notify %d: %w", id, err)
	}
	return nil
}

// Listen subscribes to the channel and calls wake for every notification
// until ctx ends. go-redis reconnects and resubscribes by itself when the
// connection drops (and pings to find out when it is idle); each
// (re)subscription calls wake(0), because what was published while the
// subscription was down is lost to Pub/Sub but not to the event table.
func (t *RedisTransport) Listen(ctx context.Context, wake func(id int64)) error {
	ps := t.client.Subscribe(ctx, t.channel)
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(256))
	subscribed := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-ch:
			if !ok {
				return fmt.Errorf("realtime: redis subscription to %q closed", t.channel)
			}
			switch msg := msg.(type) {
			case *redis.Subscription:
				if msg.Kind != "subscribe" {
					continue
				}
				if subscribed {
					t.log.InfoContext(ctx, "realtime: redis subscription restored", "channel", t.channel)
				}
				subscribed = true
				wake(0)
			case *redis.Message:
				id, err := strconv.ParseInt(msg.Payload, 10, 64)
				if err != nil {
					t.log.WarnContext(ctx, "realtime: redis notification not an id", "channel", t.channel, "payload", msg.Payload)
					id = 0
				}
				wake(id)
			}
		}
	}
}
