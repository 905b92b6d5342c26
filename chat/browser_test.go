//go:build unix

package chat_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockit/sockit/chat"
	"github.com/sockit/sockit/endpoint"
	"github.com/sockit/sockit/engine"
	"github.com/sockit/sockit/internal/testkit"
	"github.com/sockit/sockit/ws"
)

// Two tabs of the chat page talk to each other, and a tcp client too.
func TestTwoTabs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	br := testkit.StartBrowser(t)
	room := chat.New(chat.Options{})
	page := ws.ChatPage("/chat")
	srv := testkit.NewServer(t, &engine.Config{})
	ep := testkit.Listen(t, srv, endpoint.MustParse("tcp://127.0.0.1:0"), ws.NewServer(room.Messages(), ws.ServerOptions{Path: "/chat",
		HTTP: func(*ws.Request) (int, string, []byte) { return 200, "text/html; charset=utf-8", page }}))
	logText := func() string {
		var text string
		br.Get(t, "/element/"+br.Find(t, "#log")+"/text", &text)
		return text
	}
	say := func(text string) {
		send := br.Find(t, "#send")
		testkit.Eventually(t, "the tab to connect", func() bool {
			var enabled bool
			br.Get(t, "/element/"+send+"/enabled", &enabled)
			return enabled
		})
		br.Post(t, "/element/"+br.Find(t, "#msg")+"/value", map[string]string{"text": text + "\uE007"}, nil)
	}
	var first string
	br.Get(t, "/window", &first)
	br.Open(t, "http://"+ep.Addr+"/chat")
	say("hello from tab one")
	var second struct {
		Handle string `json:"handle"`
	}
	br.Post(t, "/window/new", map[string]string{"type": "tab"}, &second)
	br.Post(t, "/window", map[string]string{"handle": second.Handle}, nil)
	br.Open(t, "http://"+ep.Addr+"/chat")
	say("hi, tab one")
	testkit.Eventually(t, "tab two to show its own line", func() bool { return strings.Contains(logText(), "you: hi, tab one") })
	br.Post(t, "/window", map[string]string{"handle": first}, nil)
	testkit.Eventually(t, "tab one to hear tab two", func() bool {
		text := logText()
		return strings.Contains(text, "joined (2 here)") && strings.Contains(text, ": hi, tab one")
	})
	if out := os.Getenv("SOCKIT_ARTIFACTS"); out != "" && os.MkdirAll(out, 0o755) == nil {
		os.WriteFile(filepath.Join(out, "chat-page.png"), br.Screenshot(t), 0o644)
	}
	// Close both tabs (a third, blank one keeps the session).
	var blank struct {
		Handle string `json:"handle"`
	}
	br.Post(t, "/window/new", map[string]string{"type": "tab"}, &blank)
	for _, tab := range []string{first, second.Handle} {
		br.Post(t, "/window", map[string]string{"handle": tab}, nil)
		br.CloseTab(t)
	}
	br.Post(t, "/window", map[string]string{"handle": blank.Handle}, nil)
	testkit.Eventually(t, "both tabs to leave", func() bool { return room.Stats().Here == 0 })
	if st := room.Stats(); st.Joined != 2 || st.Messages != 2 {
		t.Errorf("Stats %+v, want 2 joined and 2 messages", st)
	}
}
