package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // RECALL_TIMEZONE in a runtime without a zone database

	"recall/internal/duedate"
)

// env reads variables through lookup and collects every parse error, each
// naming its variable, so one run reports all of them. A value of only
// spaces counts as unset.
type env struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (e *env) fail(format string, args ...any) { e.errs = append(e.errs, fmt.Errorf(format, args...)) }

// get returns the trimmed value of k, or def when it is unset or blank.
func (e *env) get(k, def string) string {
	if v, ok := e.lookup(k); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// dur reads a non-negative duration such as 500ms or 30s.
func (e *env) dur(k string, def time.Duration) time.Duration {
	v := e.get(k, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		e.fail("%s=%q: want a duration such as 500ms or 30s", k, v)
		return def
	}
	return d
}

// num reads a positive whole number.
func (e *env) num(k string, def int) int {
	v := e.get(k, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		e.fail("%s=%q: want a positive whole number", k, v)
		return def
	}
	return n
}

// optNum reads a positive whole number whose absence is 0, leaving the
// default to the code that uses it.
func (e *env) optNum(k string) int { return e.num(k, 0) }

// flag reads a boolean: 1/true/yes/on or 0/false/no/off, any case.
func (e *env) flag(k string) bool {
	switch v := strings.ToLower(e.get(k, "")); v {
	case "", "0", "false", "no", "off":
		return false
	case "1", "true", "yes", "on":
		return true
	default:
		e.fail("%s=%q: want true or false", k, v)
		return false
	}
}

// choice reads one of the allowed words, in any case, returned lower-cased.
func (e *env) choice(k, def string, allowed ...string) string {
	v := strings.ToLower(e.get(k, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.fail("%s=%q: want %s or %s", k, v, strings.Join(allowed[:len(allowed)-1], ", "), allowed[len(allowed)-1])
	return def
}

// count reads a whole number, 0 allowed (for a limit, 0 turns it off).
func (e *env) count(k string, def int) int {
	v := e.get(k, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		e.fail("%s=%q: want a whole number, 0 or more", k, v)
		return def
	}
	return n
}

// rate reads a number of events per second such as 10 or 0.5, 0 allowed.
func (e *env) rate(k string, def float64) float64 {
	v := e.get(k, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		e.fail("%s=%q: want a number of requests per second, 0 or more (such as 10 or 0.5)", k, v)
		return def
	}
	return f
}

// location reads an IANA time zone name such as Europe/Paris; unset is
// UTC. The zone database is built into the binary (time/tzdata), so a
// Lambda runtime without one on disk reads the same names.
func (e *env) location(k string) *time.Location {
	v := e.get(k, "")
	if v == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(v)
	if err != nil || strings.EqualFold(v, "local") {
		e.fail("%s=%q: want an IANA time zone name such as Europe/Paris or UTC", k, v)
		return time.UTC
	}
	return loc
}

// dateOrder reads the order of numeric dates: dmy or mdy, any case; unset
// is unknown, which leaves ambiguous dates such as 12/03 unread.
func (e *env) dateOrder(k string) duedate.Order {
	o, err := duedate.ParseOrder(e.get(k, ""))
	if err != nil {
		e.fail("%s=%q: want dmy or mdy, or leave it unset", k, e.get(k, ""))
		return duedate.OrderUnknown
	}
	return o
}
