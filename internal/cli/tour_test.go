package cli

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/tour"
)

// runTourArgs runs sockit with args and returns its error and output.
func runTourArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app, out, _ := newTestApp()
	cmd := NewRootCmd(app)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(testkit.Context(t))
	return out.String(), err
}

func TestTourLists(t *testing.T) {
	t.Parallel()
	out, err := runTourArgs(t, "tour")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range tour.Lessons() {
		want = append(want, l.Slug, l.Title)
	}
	testkit.MustContain(t, "list", out, want...)
	out, err = runTourArgs(t, "tour", "--lang", "zh")
	if err != nil {
		t.Fatal(err)
	}
	testkit.MustContain(t, "Chinese list", out, "三次握手，逐个报文段", "四次挥手")
}

func TestTourUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{name: "unknown lesson", args: []string{"tour", "nope"}, wants: []string{`no such lesson: "nope"`, "1 to 11", "handshake"}},
		{name: "lesson and --all", args: []string{"tour", "echo", "--all"}, wants: []string{"a LESSON or --all, not both"}},
		{name: "language", args: []string{"tour", "echo", "--lang", "fr"}, wants: []string{"--lang", `"fr"`, "en and zh"}},
		{name: "expect", args: []string{"tour", "echo", "--expect", "nonsense"}, wants: []string{"CHECK=ANSWER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := runTourArgs(t, tt.args...)
			testkit.MustContain(t, "error", errorOf(t, err, ExitUsage), tt.wants...)
			if strings.Contains(out, "==") {
				t.Errorf("a lesson ran on a usage error:\n%s", out)
			}
		})
	}
}

// A lesson whose check does not hold exits 5, and says which check; one
// that holds exits 0, in either language.
func TestTourChecks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lessons observe TCP with sock_diag, which is Linux's")
	}
	t.Parallel()
	t.Run("failing", func(t *testing.T) {
		t.Parallel()
		out, err := runTourArgs(t, "tour", "echo", "--json", "--expect", "read_eof=1")
		testkit.MustContain(t, "error", errorOf(t, err, ExitCheck), "read_eof")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var last struct {
			Kind   string      `json:"kind"`
			Result tour.Result `json:"result"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
			t.Fatal(err)
		}
		if last.Kind != "result" || last.Result.Failed != 1 || len(last.Result.Failing) != 1 || last.Result.Failing[0] != "read_eof" {
			t.Errorf("last record = %+v, want the result with read_eof failing", last)
		}
	})
	t.Run("zh", func(t *testing.T) {
		t.Parallel()
		out, err := runTourArgs(t, "tour", "2", "--lang", "zh")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		testkit.MustContain(t, "output", out, "第 2 课 · TCP 回显", "对端发来 FIN", "✓ 收到对端 FIN 之后的 read()：0")
	})
}
