package tour

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sockit/sockit"
	"github.com/sockit/sockit/internal/testkit"
)

// rootChecks are the checks that need the tracepoint and the packet
// capture: as root they must be made (not skipped), and pass.
var rootChecks = []string{
	"handshake_segments", "handshake_client_states", "handshake_server_states",
	"teardown_segments", "teardown_passive_states", "teardown_active_states", "rst_on_wire",
}

// zhWords are words each lesson's Chinese run must say.
var zhWords = map[string]string{
	"calls": "全连接队列", "echo": "回显", "udp": "数据报", "handshake": "三次握手", "teardown": "四次挥手",
	"halfclose": "半关闭", "backlog": "全连接队列", "reset": "重置", "flags": "紧急", "unix": "描述符", "reactor": "事件循环",
}

// records plays l with o into NDJSON and decodes it again, as a program
// reading --json would.
func records(t *testing.T, l Lesson, o Options) ([]Record, Result, error) {
	t.Helper()
	var buf bytes.Buffer
	o.Sink = NewJSONSink(&buf)
	res, err := Play(testkit.Context(t), l, o)
	var recs []Record
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r Record
		if jerr := json.Unmarshal(sc.Bytes(), &r); jerr != nil {
			t.Fatalf("a record is not JSON: %v\n%s", jerr, sc.Bytes())
		}
		recs = append(recs, r)
	}
	return recs, res, err
}

// TestLessons plays every lesson in English as the process can (as root:
// with segments) and in Chinese as a user without root, and asserts that
// each check passed, as the NDJSON tells it.
func TestLessons(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lessons observe TCP with sock_diag, which is Linux's")
	}
	root := os.Geteuid() == 0
	for _, l := range Lessons() {
		for _, mode := range []struct {
			name string
			o    Options
		}{
			{name: "en", o: Options{}},
			{name: "zh-noroot", o: Options{Lang: "zh", NoRoot: true}},
		} {
			t.Run(l.Slug+"/"+mode.name, func(t *testing.T) {
				t.Parallel()
				recs, res, err := records(t, l, mode.o)
				if err != nil {
					t.Fatalf("Play: %v\n%s", err, dump(recs))
				}
				checks := map[string]Check{}
				for _, r := range recs {
					if r.V != 1 || r.Lesson != l.Slug {
						t.Errorf("record has v %d, lesson %q; want 1, %q", r.V, r.Lesson, l.Slug)
					}
					if r.Kind == KindCheck {
						checks[r.Check.ID] = *r.Check
						if !r.Check.OK && !r.Check.Skipped {
							t.Errorf("check %s failed: want %q, got %q (%s)", r.Check.ID, r.Check.Want, r.Check.Got, r.Check.Note)
						}
					}
				}
				if len(checks) == 0 || res.Passed == 0 {
					t.Fatalf("no check passed:\n%s", dump(recs))
				}
				last := recs[len(recs)-1]
				if last.Kind != KindResult || last.Result == nil || last.Result.Passed != res.Passed {
					t.Errorf("last record = %+v, want the result %+v", last, res)
				}
				for _, id := range rootChecks {
					c, ok := checks[id]
					switch {
					case !ok:
					case root && !mode.o.NoRoot && c.Skipped:
						t.Errorf("check %s skipped as root: %s", id, c.Note)
					case (!root || mode.o.NoRoot) && !c.Skipped:
						t.Errorf("check %s made without root", id)
					case c.Skipped && c.Note == "":
						t.Errorf("check %s skipped without a reason", id)
					}
				}
				if mode.o.Lang == "zh" {
					if len(res.Untranslated) > 0 {
						t.Errorf("said without a translation:\n%s", strings.Join(res.Untranslated, "\n"))
					}
					if text := dump(recs); !strings.Contains(text, zhWords[l.Slug]) {
						t.Errorf("the Chinese run does not say %q:\n%s", zhWords[l.Slug], text)
					}
				}
			})
		}
	}
}

func dump(recs []Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(string(r.Kind) + " " + r.Side + " " + r.Text + "\n")
	}
	return b.String()
}

// TestFailingCheck expects of the echo lesson what cannot be: a read
// after the peer's FIN that returns 1. The check fails, plainly.
func TestFailingCheck(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lessons observe TCP with sock_diag, which is Linux's")
	}
	t.Parallel()
	l, err := Find("echo")
	if err != nil {
		t.Fatal(err)
	}
	recs, res, err := records(t, l, Options{Expect: map[string]string{"read_eof": "1"}})
	var ce *CheckError
	if !errors.As(err, &ce) || !slices.Equal(ce.Checks, []string{"read_eof"}) {
		t.Fatalf("Play = %v, want a CheckError for read_eof", err)
	}
	if res.Failed != 1 || res.Passed == 0 {
		t.Errorf("result = %+v, want 1 failed and the others passed", res)
	}
	for _, r := range recs {
		if r.Kind == KindCheck && r.Check.ID == "read_eof" {
			if r.Check.OK || r.Check.Want != "1" || r.Check.Got != "0" {
				t.Errorf("check = %+v, want not ok, want 1, got 0", r.Check)
			}
			testkit.MustContain(t, "check text", r.Text, "expected 1, observed 0")
		}
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, want string
	}{
		{name: "4", want: "handshake"},
		{name: "HandShake", want: "handshake"},
		{name: "11", want: "reactor"},
	} {
		l, err := Find(tt.name)
		if err != nil || l.Slug != tt.want {
			t.Errorf("Find(%q) = %q, %v; want %q", tt.name, l.Slug, err, tt.want)
		}
	}
	for _, name := range []string{"nope", "0", "12", ""} {
		_, err := Find(name)
		if !errors.Is(err, ErrUnknownLesson) {
			t.Errorf("Find(%q) = %v, want ErrUnknownLesson", name, err)
			continue
		}
		testkit.MustContain(t, "error", err.Error(), "1 to 11", "handshake", "reactor")
	}
}

func TestBadLang(t *testing.T) {
	t.Parallel()
	_, err := Play(context.Background(), lessonEcho, Options{Lang: "fr"})
	var oe *sockit.OptionError
	if !errors.As(err, &oe) || oe.Owner != "tour.Options" || oe.Fields[0] != "Lang" {
		t.Fatalf("Play(Lang fr) = %v, want an OptionError naming tour.Options.Lang", err)
	}
	for _, lang := range []string{"", "en", "zh", "zh-CN", "zh_Hans"} {
		if err := CheckLang(lang); err != nil {
			t.Errorf("CheckLang(%q) = %v", lang, err)
		}
	}
}

// verbs are a format's verbs in order.
var verbs = regexp.MustCompile(`%[-+# 0]*[0-9]*(\.[0-9]+)?[a-zA-Z%]`)

// TestCatalog checks that each translation has its key's verbs in the
// same order, and that every lesson's title and explanation and every
// check's ID are unique and translated.
func TestCatalog(t *testing.T) {
	t.Parallel()
	for lang, m := range catalogs {
		for key, msg := range m {
			if k, v := verbs.FindAllString(key, -1), verbs.FindAllString(msg, -1); !slices.Equal(k, v) {
				t.Errorf("%s: %q has verbs %v, its translation %q has %v", lang, key, k, msg, v)
			}
		}
		for _, l := range Lessons() {
			for _, s := range []string{l.Title, l.Explain} {
				if _, ok := m[s]; !ok {
					t.Errorf("%s: lesson %s: no translation of %q", lang, l.Slug, s)
				}
			}
		}
	}
	slugs := map[string]bool{}
	for _, l := range Lessons() {
		if slugs[l.Slug] {
			t.Errorf("two lessons are named %s", l.Slug)
		}
		slugs[l.Slug] = true
	}
}

func TestSideName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ side, lang, want string }{
		{side: "client", lang: "zh", want: "客户端"},
		{side: "server", lang: "zh", want: "服务端"},
		{side: "client2", lang: "zh", want: "客户端2"},
		{side: "client2", lang: "", want: "client2"},
		{side: "", lang: "zh", want: ""},
	} {
		if got := SideName(tt.side, tt.lang); got != tt.want {
			t.Errorf("SideName(%q, %q) = %q, want %q", tt.side, tt.lang, got, tt.want)
		}
	}
	if got := pad("客户端", 7); got != "客户端 " {
		t.Errorf("pad(客户端, 7) = %q: want 7 columns", got)
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want string
		width    int
	}{
		{in: "one two three", width: 7, want: "one two\nthree"},
		{in: "三次握手四次挥手", width: 8, want: "三次握手\n四次挥手"},
		{in: "a\nb", width: 10, want: "a\nb"},
		// A line never begins with a closing mark: the character before
		// it goes down with it.
		{in: "常常只有三个，因为", width: 12, want: "常常只有三\n个，因为"},
		{in: "四个。", width: 5, want: "四\n个。"},
		// Nor ends with an opening one.
		{in: "三个（SYN）", width: 8, want: "三个\n（SYN）"},
		{in: "TIME_WAIT，然后", width: 10, want: "TIME_WAIT，\n然后"},
	} {
		if got := wrap(tt.in, tt.width); got != tt.want {
			t.Errorf("wrap(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}
