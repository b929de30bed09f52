package redisq

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"recall/internal/recall"
)

// encode is a job's payload in its stream entry: its JSON, without the
// receipt (which names a delivery, not the job).
func encode(job recall.Job) (string, error) {
	job.Receipt = ""
	b, err := json.Marshal(job)
	if err != nil {
		return "", fmt.Errorf("redisq: encode job %s: %w", job.Key(), err)
	}
	return string(b), nil
}

// decode reads a payload. Decoding was half the client's time in
// BenchmarkDrain, so the exact shape encode writes (its field order, no
// escapes) is read directly; anything else, from an older version, by hand
// or with escapes, goes to encoding/json. FuzzDecode holds the two to the
// same result.
func decode(p string) (recall.Job, error) {
	if j, ok := decodeFast(p); ok {
		return j, nil
	}
	var j recall.Job
	err := json.Unmarshal([]byte(p), &j)
	return j, err
}

// decodeFast reads what encode writes, or reports false.
func decodeFast(p string) (j recall.Job, ok bool) {
	if strings.IndexByte(p, '\\') >= 0 || !utf8.ValidString(p) {
		return j, false
	}
	r := payloadReader{rest: p}
	var priority, at string
	ok = r.literal(`{"conversation_id":`) && r.string(&j.ConversationID) &&
		r.literal(`,"owner":`) && r.string(&j.Owner) &&
		r.literal(`,"run":`) && r.int(&j.Run) &&
		r.literal(`,"priority":`) && r.string(&priority) &&
		r.literal(`,"attempt":`) && r.int(&j.Attempt) &&
		r.literal(`,"enqueued_at":`) && r.string(&at) &&
		r.literal(`}`) && r.rest == ""
	if !ok || j.EnqueuedAt.UnmarshalText([]byte(at)) != nil {
		return recall.Job{}, false
	}
	j.Priority = recall.Priority(priority)
	return j, true
}

// payloadReader consumes a payload from the front.
type payloadReader struct{ rest string }

func (r *payloadReader) literal(s string) bool {
	if !strings.HasPrefix(r.rest, s) {
		return false
	}
	r.rest = r.rest[len(s):]
	return true
}

// string reads a JSON string without escapes (decodeFast has checked
// there are none) and without control characters, which JSON escapes.
func (r *payloadReader) string(dst *string) bool {
	if !strings.HasPrefix(r.rest, `"`) {
		return false
	}
	end := strings.IndexByte(r.rest[1:], '"')
	if end < 0 {
		return false
	}
	s := r.rest[1 : 1+end]
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return false
		}
	}
	*dst, r.rest = s, r.rest[2+end:]
	return true
}

// int reads a JSON integer as encoding/json writes one: an optional minus
// and digits without a leading zero.
func (r *payloadReader) int(dst *int) bool {
	n := 0
	if strings.HasPrefix(r.rest, "-") {
		n = 1
	}
	for n < len(r.rest) && r.rest[n] >= '0' && r.rest[n] <= '9' {
		n++
	}
	digits := strings.TrimPrefix(r.rest[:n], "-")
	if digits == "" || len(digits) > 1 && digits[0] == '0' {
		return false
	}
	v, err := strconv.Atoi(r.rest[:n])
	if err != nil {
		return false
	}
	*dst, r.rest = v, r.rest[n:]
	return true
}
