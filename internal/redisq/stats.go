package redisq

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/recall"
)

// Stats reports depth per priority (entries not yet delivered, in both of
// its lanes: XLEN minus pending, which holds because acked entries are
// deleted), jobs in flight (pending), the age of the oldest undelivered
// entry, scheduled retries, dead letters and the consumers the groups know.
// It takes two round trips, plus one for the eviction policy check, which
// is skipped silently where CONFIG is disabled (as on ElastiCache).
func (q *Queue) Stats(ctx context.Context) (recall.QueueStats, error) {
	if err := q.ensure(ctx); err != nil {
		return recall.QueueStats{}, err
	}
	var (
		lens      [6]*redis.IntCmd
		groups    [6]*redis.XInfoGroupsCmd
		consumers [6]*redis.XInfoConsumersCmd
		retry     *redis.IntCmd
		dead      *redis.IntCmd
	)
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 6 {
			lens[i] = p.XLen(ctx, q.stream(i))
			groups[i] = p.XInfoGroups(ctx, q.stream(i))
			consumers[i] = p.XInfoConsumers(ctx, q.stream(i), q.group)
		}
		retry = p.ZCard(ctx, q.keys[4])
		dead = p.XLen(ctx, q.keys[5])
		return nil
	})
	if err != nil {
		if replyCode(err) != "" {
			q.ready.Store(false) // NOGROUP, no such key: flushed under us; the next call recreates
		}
		return recall.QueueStats{}, redisErr(err, "stats")
	}
	st := recall.QueueStats{
		Depth:     map[recall.Priority]int64{},
		Scheduled: retry.Val(),
		Dead:      dead.Val(),
	}
	var lastDelivered [6]string
	var depth [6]int64
	byName := map[string]*recall.ConsumerStats{}
	for i := range 6 {
		var pending int64
		for _, g := range groups[i].Val() {
			if g.Name == q.group {
				pending = g.Pending
				lastDelivered[i] = g.LastDeliveredID
			}
		}
		st.InFlight += pending
		depth[i] = max(lens[i].Val()-pending, 0)
		st.Depth[recall.Priorities[i%3]] += depth[i]
		for _, c := range consumers[i].Val() {
			cs := byName[c.Name]
			if cs == nil {
				cs = &recall.ConsumerStats{Name: c.Name, Idle: c.Idle}
				byName[c.Name] = cs
			}
			cs.Pending += c.Pending
			cs.Idle = min(cs.Idle, c.Idle)
		}
	}
	for _, c := range byName {
		st.Consumers = append(st.Consumers, *c)
	}
	slices.SortFunc(st.Consumers, func(a, b recall.ConsumerStats) int { return strings.Compare(a.Name, b.Name) })
	if st.OldestAge, err = q.oldestAge(ctx, depth, lastDelivered); err != nil {
		return recall.QueueStats{}, err
	}
	if policy, err := q.EvictionPolicy(ctx); err == nil && policy != "" && policy != "noeviction" {
		st.Warnings = append(st.Warnings, "Redis maxmemory-policy is "+policy+", not noeviction: under memory pressure Redis may evict queued jobs")
	}
	return st, nil
}

// oldestAge is how long the oldest waiting job has waited: the first entry
// after each group's last delivered id holds the time it entered the
// stream.
func (q *Queue) oldestAge(ctx context.Context, depth [6]int64, lastDelivered [6]string) (time.Duration, error) {
	var firsts [6]*redis.XMessageSliceCmd
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 6 {
			if depth[i] > 0 {
				firsts[i] = p.XRangeN(ctx, q.stream(i), "("+lastDelivered[i], "+", 1)
			}
		}
		return nil
	})
	if err != nil {
		return 0, redisErr(err, "stats")
	}
	var oldest time.Duration
	now := time.Now()
	for _, c := range firsts {
		if c == nil || len(c.Val()) == 0 {
			continue
		}
		if t := idTime(c.Val()[0].ID); !t.IsZero() {
			oldest = max(oldest, now.Sub(t))
		}
	}
	return oldest, nil
}

// EvictionPolicy returns Redis's maxmemory-policy, for `recall doctor` and
// Stats: anything but noeviction lets Redis drop queued jobs when full. It
// returns an error where CONFIG is disabled (ElastiCache), which callers
// should treat as "unknown", not as a fault.
func (q *Queue) EvictionPolicy(ctx context.Context) (string, error) {
	m, err := q.rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return "", redisErr(err, "config get maxmemory-policy")
	}
	return m["maxmemory-policy"], nil
}
