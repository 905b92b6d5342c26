package ws

import (
	"encoding/json"
	"errors"
	"strings"
)

// Echo sends every message back with the same opcode: the WebSocket twin
// of service.Echo.
type Echo struct{}

func (Echo) OnOpen(*Conn) {}

// OnMessage echoes data. If the output cannot be queued (the client reads
// too slowly for the engine's MaxPending), it closes with
// CloseInternalError rather than drop a message.
func (Echo) OnMessage(c *Conn, op Opcode, data []byte) {
	if err := c.WriteMessage(op, data); err != nil && !errors.Is(err, ErrCloseSent) {
		c.Close(CloseInternalError, "echo: "+err.Error())
	}
}

func (Echo) OnClose(*Conn, CloseCode, string, error) {}

// EchoPage returns a self-contained HTML page (no external resources) that
// talks to a WebSocket echo service at path on the page's own host
// (ws:// or wss:// after the page's scheme): a person types into #msg,
// presses #send or Enter, and #log shows each event as it happens —
// connecting, open, each message sent and received with its size, errors,
// and the close with its code and reason.
//
// Serve it from ServerOptions.HTTP:
//
//	page := ws.EchoPage("/ws")
//	ws.ServerOptions{Path: "/ws", HTTP: func(r *ws.Request) (int, string, []byte) {
//		if r.Path != "/" {
//			return 0, "", nil
//		}
//		return 200, "text/html; charset=utf-8", page
//	}}
func EchoPage(path string) []byte { return page(path, false) }

// ChatPage is EchoPage in chat mode, for a chat service (package chat)
// at path: what others say arrives as lines of the log, what this page
// sends shows as "you: …", so that two tabs of it talk to each other.
func ChatPage(path string) []byte { return page(path, true) }

func page(path string, chat bool) []byte {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	js, _ := json.Marshal(path) // a JS string literal; json escapes <, > and &
	title, mode := "WebSocket echo", "false"
	if chat {
		title, mode = "WebSocket chat", "true"
	}
	r := strings.NewReplacer("PATH_JSON", string(js), "PAGE_TITLE", title, "CHAT_MODE", mode)
	return []byte(r.Replace(echoPage))
}

const echoPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sockit · PAGE_TITLE</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
  #state { font-size: .9rem; color: #666; margin-bottom: 1rem; }
  #state.open { color: #17803d; } #state.closed { color: #b42318; }
  form { display: flex; gap: .5rem; }
  #msg { flex: 1; padding: .45rem .6rem; font: inherit; border: 1px solid #bbb; border-radius: 6px; }
  button { padding: .45rem 1rem; font: inherit; border: 0; border-radius: 6px; background: #2457c5; color: #fff; cursor: pointer; }
  button:disabled { background: #9aa9c9; cursor: default; }
  #log { margin-top: 1rem; padding: .6rem .8rem; background: #f6f7f9; border: 1px solid #e2e4e8; border-radius: 6px;
         font: 13px/1.5 ui-monospace, monospace; min-height: 12rem; white-space: pre-wrap; word-break: break-all; }
  .ev { color: #667; } .out { color: #2457c5; } .in { color: #17803d; } .err { color: #b42318; }
</style>
</head>
<body>
<h1>PAGE_TITLE</h1>
<div id="state">not connected</div>
<form id="form">
  <input id="msg" autocomplete="off" placeholder="Type a message, press Enter" autofocus>
  <button id="send" type="submit" disabled>Send</button>
  <button id="reconnect" type="button" hidden>Reconnect</button>
</form>
<div id="log"></div>
<script>
"use strict";
const path = PATH_JSON;
const chat = CHAT_MODE; // chat: messages are others' words, not echoes
const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
let ws;

function log(cls, text) {
  const line = document.createElement("div");
  line.className = cls;
  line.textContent = new Date().toLocaleTimeString() + "  " + text;
  $("log").append(line);
  $("log").scrollTop = $("log").scrollHeight;
}

function state(cls, text) {
  $("state").className = cls;
  $("state").textContent = text;
}

function size(data) {
  return (typeof data === "string" ? enc.encode(data).length : data.byteLength) + " bytes";
}

function connect() {
  state("", "connecting to " + url);
  log("ev", "connecting to " + url);
  $("reconnect").hidden = true;
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    state("open", "open: " + url);
    log("ev", "open");
    $("send").disabled = false;
    $("msg").focus();
  };
  ws.onmessage = (e) => {
    if (chat && typeof e.data === "string") {
      const line = e.data.replace(/\r?\n$/, "");
      log(line.startsWith("* ") ? "ev" : "in", line);
      return;
    }
    const text = typeof e.data === "string" ? JSON.stringify(e.data) : "(binary)";
    log("in", "received " + size(e.data) + ": " + text);
  };
  ws.onerror = () => log("err", "error (the browser gives no details; see the close below)");
  ws.onclose = (e) => {
    state("closed", "closed");
    log("ev", "close: code " + e.code + (e.reason ? ", reason " + JSON.stringify(e.reason) : "") +
      (e.wasClean ? ", clean" : ", not clean"));
    $("send").disabled = true;
    $("reconnect").hidden = false;
  };
}

$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("msg").value;
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    log("err", "not connected");
    return;
  }
  ws.send(text);
  log("out", chat ? "you: " + text : "sent " + size(text) + ": " + JSON.stringify(text));
  $("msg").value = "";
});
$("reconnect").addEventListener("click", connect);
connect();
</script>
</body>
</html>
`
