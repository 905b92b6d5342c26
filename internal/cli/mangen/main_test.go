package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// TestManPagesCurrent: the manual pages checked in (doc/man) are what
// the command tree makes now, but for the date on their .TH line; if
// not, run go generate ./internal/cli/mangen.
func TestManPagesCurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := write(dir); err != nil {
		t.Fatal(err)
	}
	const checkedIn = "../../../doc/man"
	names := func(d string) []string {
		es, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, e := range es {
			ns = append(ns, e.Name())
		}
		return ns
	}
	want, got := names(dir), names(checkedIn)
	if !slices.Equal(got, want) {
		t.Fatalf("doc/man holds %q, the command tree makes %q: run go generate ./internal/cli/mangen", got, want)
	}
	if !slices.Contains(want, "sockit-listen.1") {
		t.Errorf("no page for listen among %q", want)
	}
	for _, n := range want {
		fresh, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		old, err := os.ReadFile(filepath.Join(checkedIn, n))
		if err != nil {
			t.Fatal(err)
		}
		if withoutDate(string(old)) != withoutDate(string(fresh)) {
			t.Errorf("doc/man/%s differs from what the command tree makes: run go generate ./internal/cli/mangen", n)
		}
	}
}

// withoutDate drops a page's .TH line, which carries the date it was made.
func withoutDate(page string) string {
	var keep []string
	for _, l := range strings.Split(page, "\n") {
		if !strings.HasPrefix(l, ".TH ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
