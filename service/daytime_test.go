package service_test

import (
	"io"
	"testing"
	"time"

	"github.com/sockit/sockit/service"
)

// fixedNow is a leap day in a zone with a name, so that the day, month and
// zone are all checked.
func fixedNow() time.Time {
	return time.Date(2024, time.February, 29, 13, 4, 5, 0, time.FixedZone("CET", 3600))
}

// wantDaytime is the line fixedNow gives, written out by hand.
const wantDaytime = "Thursday, February 29, 2024 13:04:05-CET\r\n"

func TestDaytimeLayout(t *testing.T) {
	t.Parallel()
	if got := fixedNow().Format(service.DaytimeLayout) + "\r\n"; got != wantDaytime {
		t.Errorf("DaytimeLayout formats %q, want %q", got, wantDaytime)
	}
}

func TestDaytimeTCP(t *testing.T) {
	t.Parallel()
	_, addr := serveTCP(t, service.Daytime{Now: fixedNow})
	c := dialTCP(t, addr)
	got, err := io.ReadAll(c) // the server sends one line and closes
	if err != nil {
		t.Fatalf("read until EOF: %v (after %q)", err, got)
	}
	if string(got) != wantDaytime {
		t.Errorf("daytime sent %q, want exactly %q then EOF", got, wantDaytime)
	}
}

func TestDaytimeUDP(t *testing.T) {
	t.Parallel()
	_, addr := serveUDP(t, service.Daytime{Now: fixedNow})
	c := dialUDP(t, addr)
	for i := 0; i < 3; i++ {
		if got := roundTrip(t, c, []byte("time?")); string(got) != wantDaytime {
			t.Errorf("reply %d = %q, want %q", i, got, wantDaytime)
		}
	}
}

func TestDaytimeDefaultsToNow(t *testing.T) {
	t.Parallel()
	_, addr := serveUDP(t, service.Daytime{})
	c := dialUDP(t, addr)
	before := time.Now().Truncate(time.Second)
	got := string(roundTrip(t, c, []byte("now?")))
	after := time.Now()
	if len(got) < 2 || got[len(got)-2:] != "\r\n" {
		t.Fatalf("reply %q does not end in CRLF", got)
	}
	when, err := time.Parse(service.DaytimeLayout, got[:len(got)-2])
	if err != nil {
		t.Fatalf("reply %q does not parse with DaytimeLayout: %v", got, err)
	}
	// Parse gives a zone abbreviation an offset only when it is the
	// local one; compare wall clocks in the local zone.
	wall := time.Date(when.Year(), when.Month(), when.Day(), when.Hour(), when.Minute(), when.Second(), 0, time.Local)
	if wall.Before(before) || wall.After(after) {
		t.Errorf("reply says %v, want a time between %v and %v", wall, before, after)
	}
}
