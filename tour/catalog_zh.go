package tour

// zh is the Chinese (简体中文) catalog: every sentence the tour says, the
// narration of the socket steps (sockit.Event.Narrate) and the meanings
// of TCP state changes (tcpstate.Meaning), keyed by the English format.
// A translation keeps the format's verbs, in the same order. The names of
// system calls, flags, states and errnos stay as the socket API spells
// them: that is how a learner finds them in the man pages.
var zh = map[string]string{
	// The run's frame.
	"Lesson %d · %s":                       "第 %d 课 · %s",
	"the lesson could not be made: %s":     "这一课没能进行：%s",
	"%s: %d passed, %d failed, %d skipped": "%s：%d 项通过，%d 项未通过，%d 项跳过",
	"✓ %s: %s":                             "✓ %s：%s",
	"✗ %s: expected %s, observed %s":       "✗ %s：应为 %s，实际为 %s",
	"– %s: not checked: %s":                "– %s：未检查：%s",
	"yes":                                  "是",
	"no":                                   "否",
	"client":                               "客户端",
	"server":                               "服务端",
	"server too":                           "服务端也在",
	"neither":                              "两端都不在",
	"still there":                          "仍然存在",
	"this process":                         "本进程",
	"another process":                      "另一个进程",
	"timeout":                              "超时",
	"no descriptor":                        "没有收到描述符",

	// What a run without root lacks.
	"run without root (as asked): the state changes come from sock_diag snapshots at chosen moments, and no segments are shown":                                                                                             "按要求以非 root 身份运行：状态来自在选定时刻拍下的 sock_diag 快照，不显示报文段",
	"not root: no tracepoint (sock:inet_sock_set_state) and no packet capture, so no segments and no states that last microseconds; the states come from sock_diag snapshots at chosen moments (run as root to see it all)": "不是 root：没有跟踪点（sock:inet_sock_set_state），也没有抓包，所以看不到报文段，也看不到只持续几微秒的状态；状态来自在选定时刻拍下的 sock_diag 快照（以 root 运行可以看到全部）",
	"the tracepoint is not usable here (%s): the states come from sock_diag snapshots, and no segments are shown":                                                                                                           "这里用不了跟踪点（%s）：状态来自 sock_diag 快照，不显示报文段",
	"the packet capture is not usable here (%s): the states come from sock_diag snapshots, and no segments are shown":                                                                                                       "这里用不了抓包（%s）：状态来自 sock_diag 快照，不显示报文段",
	"recording stopped early: %s": "记录提前停止：%s",
	"sock_diag: %s":               "sock_diag：%s",
	"needs root: the segments come from a packet capture (AF_PACKET)":                                      "需要 root：报文段来自抓包（AF_PACKET）",
	"needs root: SYN_SENT lasts microseconds on loopback, too short for sock_diag; the tracepoint sees it": "需要 root：在回环接口上 SYN_SENT 只持续几微秒，sock_diag 来不及看到；跟踪点能看到",
	"needs root: SYN_RECV lasts microseconds on loopback, too short for sock_diag; the tracepoint sees it": "需要 root：在回环接口上 SYN_RECV 只持续几微秒，sock_diag 来不及看到；跟踪点能看到",
	"needs root: FIN_WAIT_1 lasts microseconds on loopback; the tracepoint sees it":                        "需要 root：在回环接口上 FIN_WAIT_1 只持续几微秒；跟踪点能看到",
	"client%d: connect() gave up after 300 ms (%s): no SYN-ACK came, the SYN was dropped":                  "client%d：connect() 在 300 毫秒后放弃（%s）：没有等到 SYN-ACK，SYN 被丢弃了",
	"needs root: LAST_ACK lasts microseconds on loopback; the tracepoint sees it":                          "需要 root：在回环接口上 LAST_ACK 只持续几微秒；跟踪点能看到",
	"sock_diag could not show the client's receive queue":                                                  "sock_diag 无法显示客户端的接收队列",

	// States and segments.
	"What the kernel recorded meanwhile, in order (tracepoint and packet capture; seq and ack relative to each side's ISN):": "与此同时内核记录下的经过，按时间顺序（来自跟踪点和抓包；seq 与 ack 相对于各自的初始序号 ISN）：",
	"passed through %s unseen": "其间经过 %s，未被看到",
	"after %s":                 "停留 %s 后",
	"len %d":                   "长度 %d",
	"%s  now: %s (the kernel has no such socket)": "%s  现在：%s（内核中已没有这个套接字）",
	"%s  now: %s":                "%s  现在：%s",
	"(%.1f s left on its timer)": "（定时器还剩 %.1f 秒）",
	"%s  now: LISTEN, %d connection(s) in the accept queue (Recv-Q), backlog %d (Send-Q)": "%s  现在：LISTEN，全连接队列（accept 队列）中有 %d 个连接（Recv-Q），backlog 为 %d（Send-Q）",

	// tcpstate.Meaning.
	"close() after shutdown(): our FIN went out already; nothing is sent, the state stays, and the kernel owns the socket now": "shutdown() 之后再 close()：我方的 FIN 已经发出；这次什么也不发，状态不变，套接字从此归内核所有",
	"the kernel set the state it was already in: nothing changed":                                                              "内核设置了它原本就处于的状态：没有变化",
	"connect(): our SYN goes out":    "connect()：发出我方的 SYN",
	"listen(): ready to answer SYNs": "listen()：准备好应答 SYN",
	"a SYN came in and was answered with SYN-ACK (Linux makes the full socket when the final ACK arrives)": "收到 SYN，回以 SYN-ACK（Linux 在最后的 ACK 到达时才建立完整的套接字）",
	"the SYN-ACK came back; we ACK it: handshake done":                                                     "SYN-ACK 回来了；我方回 ACK：握手完成",
	"the final ACK came back: handshake done":                                                              "最后的 ACK 到了：握手完成",
	"we sent FIN (close or shutdown)":                                                                      "我方发出 FIN（close 或 shutdown）",
	"the peer ACKed our FIN; waiting for its FIN":                                                          "对端确认了我方的 FIN；等待对端的 FIN",
	"the peer sent FIN; we ACKed it (read returns 0)":                                                      "对端发来 FIN；我方已确认（read 返回 0）",
	"we sent our FIN too; waiting for its ACK":                                                             "我方也发出了 FIN；等待对端的 ACK",
	"both sides sent FIN at once":                                                                          "双方同时发出 FIN",
	"the peer's FIN came; we ACKed it and wait 2MSL (60s on Linux)":                                        "对端的 FIN 到了；我方确认后等待 2MSL（Linux 上为 60 秒）",
	"our FIN was ACKed: gone":                                                                              "我方的 FIN 已被确认：连接消失",
	"2MSL is over: the kernel forgets the connection":                                                      "2MSL 结束：内核忘掉这个连接",
	"the connect failed (refused or timed out)":                                                            "connect 失败（被拒绝或超时）",
	"the listener closed":                                                                                  "监听套接字关闭",
	"reset or aborted: no orderly close":                                                                   "被重置或中止：没有正常关闭",

	// The narration of socket steps (sockit.Event.Narrate).
	"a datagram socket's connect sends nothing: it sets the default peer and filters what is received": "数据报套接字的 connect 不发送任何东西：它只设定默认对端，并过滤收到的数据",
	"connected %s → %s":  "已连接 %s → %s",
	"connected to %s":    "已连接到 %s",
	"peer sent FIN":      "对端发来 FIN",
	"%s from %s":         "%s，来自 %s",
	"%s to %s":           "%s，发往 %s",
	"urgent data: %s":    "紧急数据：%s",
	"ancillary data: %s": "辅助数据：%s",
	"new conn %s":        "新连接 %s",
	"closed conn %s: in %s, out %s, after %s": "连接 %s 已关闭：收 %s，发 %s，历时 %s",
	"epoll_wait = %d ready: %s":               "epoll_wait = %d 个就绪：%s",
	"1 byte":                                  "1 字节",
	"%d bytes":                                "%d 字节",
	"an empty datagram":                       "一个空数据报",
	"end of file: reading was shut down here (SHUT_RD)":                          "文件结束：本端已关闭读（SHUT_RD）",
	"data came after our shutdown(SHUT_RD), and the kernel answered it with RST": "我方 shutdown(SHUT_RD) 之后又来了数据，内核以 RST 回应",

	// Lesson 1.
	"The call sequence: who calls what, who blocks where": "调用顺序：谁调用什么，谁在哪里阻塞",
	"A TCP server calls socket(), bind() and listen(), then accept(), which blocks until a connection is ready. " +
		"A client calls socket() and connect(), which blocks until the three-way handshake is done. " +
		"The kernel completes the handshake on its own, before the server calls accept(): the connection waits, " +
		"ESTABLISHED, in the listener's accept queue, and accept() only takes it from there.": "TCP 服务端依次调用 socket()、bind()、listen()，然后调用 accept()，accept() 会阻塞，直到有连接就绪。" +
		"客户端调用 socket() 和 connect()，connect() 阻塞到三次握手完成为止。" +
		"握手由内核独立完成，早在服务端调用 accept() 之前：连接以 ESTABLISHED 状态在监听套接字的全连接队列（accept 队列）里等待，accept() 只是把它从队列中取出来。",
	"accept() with no client yet, for at most 100 ms:":                                                                                "还没有客户端时调用 accept()，最多等 100 毫秒：",
	"it returned %s after 100 ms":                                                                                                     "100 毫秒后返回 %s",
	"accept() blocks while no connection is queued":                                                                                   "队列中没有连接时 accept() 会阻塞",
	"connect() returned: the handshake is done. The server has not called accept() yet; sock_diag shows:":                             "connect() 返回了：握手已完成。服务端还没有调用 accept()；sock_diag 显示：",
	"the server's end of the connection before accept()":                                                                              "accept() 之前服务端这一头的连接",
	"connections waiting in the accept queue before accept()":                                                                         "accept() 之前在全连接队列中等待的连接数",
	"accept() returned at once: the connection was already there. accept() made a new socket for it; the listener goes on listening.": "accept() 立即返回：连接早已在那里。accept() 为它创建了一个新的套接字；监听套接字继续监听。",

	// Lesson 2.
	"TCP echo, and what read() returns": "TCP 回显，以及 read() 的返回值",
	"read() (and recv()) return the number of bytes they got, more than 0; or 0, which means the peer sent FIN: " +
		"the end of its data, never an empty message; or -1 with errno set: EAGAIN on a non-blocking socket with nothing to read, " +
		"ECONNRESET when the peer reset the connection. An echo server writes back what it reads, and closes when it reads 0.": "read()（以及 recv()）返回读到的字节数，大于 0；或者返回 0，表示对端发来了 FIN：" +
		"它的数据结束了，而不是收到一条空消息；或者返回 -1 并设置 errno：非阻塞套接字上无数据可读时为 EAGAIN，" +
		"对端重置连接时为 ECONNRESET。回显服务端把读到的内容原样写回，读到 0 时关闭。",
	"recv() with MSG_DONTWAIT before anything was sent:":                                    "还没发送任何数据时，带 MSG_DONTWAIT 调用 recv()：",
	"a non-blocking read with nothing to read returns -1 and errno":                         "无数据可读时，非阻塞读返回 -1 和 errno",
	"bytes read() returns for the echo":                                                     "read() 读到的回显字节数",
	"shutdown(SHUT_WR): our FIN tells the server we are done; it answers with its own FIN.": "shutdown(SHUT_WR)：我方的 FIN 告诉服务端我们发完了；它以自己的 FIN 作答。",
	"read() after the peer's FIN":                                                           "收到对端 FIN 之后的 read()",

	// Lesson 3.
	"UDP echo: datagrams, sendto/recvfrom, no connection": "UDP 回显：数据报、sendto/recvfrom、无连接",
	"UDP has no connection and no handshake: sendto() names where each datagram goes, recvfrom() tells who sent it, " +
		"and each recvfrom() returns one whole datagram, never two run together and never half of one. " +
		"When nothing listens on the port, the peer's kernel answers with an ICMP port unreachable message; " +
		"a connected UDP socket hears of it as ECONNREFUSED, on its next call.": "UDP 没有连接，也没有握手：sendto() 指明每个数据报发往哪里，recvfrom() 告诉你是谁发来的，" +
		"每次 recvfrom() 返回一个完整的数据报，既不会把两个连在一起，也不会只给半个。" +
		"端口上没有人监听时，对方内核会回一个 ICMP 端口不可达报文；" +
		"已 connect 的 UDP 套接字会在下一次调用时得到 ECONNREFUSED。",
	"what two recvfrom() calls return after two sendto() of 3 bytes":                                                  "两次 sendto() 各发 3 字节后，两次 recvfrom() 返回的内容",
	"Now a port where a UDP socket is bound but takes datagrams from nobody else: the kernel refuses them with ICMP.": "现在换一个端口：上面绑定了一个 UDP 套接字，但它不接收任何别人的数据报，内核用 ICMP 拒绝它们。",
	"a connected UDP socket's read after sending to a port nobody serves":                                             "已 connect 的 UDP 套接字向无人服务的端口发送后的读",
	"the ICMP message behind it (destination unreachable: port unreachable)":                                          "背后的 ICMP 报文（目的不可达：端口不可达）",
	"the ICMP message behind it":                     "背后的 ICMP 报文",
	"the socket error queue (IP_RECVERR) is Linux's": "套接字错误队列（IP_RECVERR）是 Linux 特有的",
	"the error queue (MSG_ERRQUEUE) tells: %s":       "错误队列（MSG_ERRQUEUE）说：%s",

	// Lesson 4.
	"The three-way handshake, segment by segment": "三次握手，逐个报文段",
	"connect() sends SYN and the client's socket enters SYN_SENT. The listener answers SYN-ACK; on Linux the " +
		"half-open connection is a request socket in SYN_RECV. The client ACKs the SYN-ACK and is ESTABLISHED; when that " +
		"ACK arrives the server's socket is ESTABLISHED too and waits in the accept queue. Three segments: SYN, SYN-ACK, ACK.": "connect() 发出 SYN，客户端套接字进入 SYN_SENT。监听方回以 SYN-ACK；在 Linux 上，" +
		"这个半连接是一个处于 SYN_RECV 的请求套接字（在半连接队列中）。客户端对 SYN-ACK 回 ACK，进入 ESTABLISHED；" +
		"这个 ACK 到达后，服务端的套接字也进入 ESTABLISHED，并在全连接队列中等待 accept。三个报文段：SYN、SYN-ACK、ACK。",
	"both ends once connect() and accept() returned": "connect() 和 accept() 都返回后两端的状态",
	"the handshake's segments":                       "握手的报文段",
	"the client's states":                            "客户端经历的状态",
	"the server's states":                            "服务端经历的状态",

	// Lesson 5.
	"The four-way teardown, and TIME_WAIT": "四次挥手，以及 TIME_WAIT",
	"The side that closes first sends FIN (FIN_WAIT_1); the other ACKs it (the first side is in FIN_WAIT_2, the other " +
		"in CLOSE_WAIT: its read() returns 0, but it may still write). When it closes too it sends its FIN (LAST_ACK); the first " +
		"side ACKs it and enters TIME_WAIT, and the other is gone. Four segments: FIN, ACK, FIN, ACK, often three because the " +
		"second ACK and FIN travel together; here the server holds the FIN for a moment, so there are four.\n" +
		"TIME_WAIT lasts 2MSL, so that late segments of this connection die out before its addresses are used again, and so that " +
		"the last ACK can be sent again if it was lost. On Linux 2MSL is 60 seconds, fixed in the kernel (TCP_TIMEWAIT_LEN); " +
		"no sysctl changes it. net.ipv4.tcp_fin_timeout, which tutorials often name for it, is how long an orphaned socket may " +
		"wait in FIN_WAIT_2, not TIME_WAIT.": "先关闭的一方发出 FIN（进入 FIN_WAIT_1）；另一方确认它（于是先关闭方处于 FIN_WAIT_2，另一方处于 " +
		"CLOSE_WAIT：它的 read() 返回 0，但仍然可以写）。另一方也关闭时发出自己的 FIN（进入 LAST_ACK）；先关闭方确认后进入 " +
		"TIME_WAIT，另一方的连接随即消失。四个报文段：FIN、ACK、FIN、ACK；常常只有三个，因为第二个 ACK 和 FIN 合在一起发送；" +
		"这里服务端把 FIN 推迟了一会儿，所以是四个。\n" +
		"TIME_WAIT 持续 2MSL，好让这个连接迟到的报文段在同样的地址被再次使用之前消亡，也好在最后的 ACK 丢失时重发它。" +
		"在 Linux 上 2MSL 是 60 秒，写死在内核里（TCP_TIMEWAIT_LEN），没有哪个 sysctl 能改变它。教程里常说的 " +
		"net.ipv4.tcp_fin_timeout 管的是孤儿套接字在 FIN_WAIT_2 中最多等多久，而不是 TIME_WAIT。",
	"The client closes first: shutdown(SHUT_WR) sends its FIN. The server's service hears of it only %s later.": "客户端先关闭：shutdown(SHUT_WR) 发出它的 FIN。服务端的服务要在 %s 之后才得知。",
	"the client, which closed first, while the server holds its FIN":                                            "服务端推迟 FIN 期间，先关闭的客户端",
	"the server, whose read() returned 0":                                                                       "read() 已返回 0 的服务端",
	"the side in TIME_WAIT":                                                                                     "处于 TIME_WAIT 的一方",
	"%.1f s left":                                                                                               "还剩 %.1f 秒",
	"how long TIME_WAIT lasts (2MSL)":                                                                           "TIME_WAIT 持续多久（2MSL）",
	"the teardown's segments":                                                                                   "挥手的报文段",

	// Lesson 6.
	"Half-close: shutdown(SHUT_WR) versus close()": "半关闭：shutdown(SHUT_WR) 与 close() 的区别",
	"shutdown(SHUT_WR) sends FIN and ends only this side's writing: the peer reads 0, and can still answer, and this " +
		"side still reads it. A write after it fails with EPIPE. close() gives up the socket for good: what arrives afterwards " +
		"has nobody to read it, and the kernel answers it with RST.": "shutdown(SHUT_WR) 发出 FIN，只结束本端的写：对端读到 0，但仍然可以回复，本端也仍然能读到回复。" +
		"此后再写会失败，得到 EPIPE。close() 则彻底放弃这个套接字：之后到达的数据没有人读，内核以 RST 回应。",
	"write() after shutdown(SHUT_WR)":                            "shutdown(SHUT_WR) 之后的 write()",
	"bytes of the answer read after our shutdown(SHUT_WR)":       "我方 shutdown(SHUT_WR) 之后读到的回复字节数",
	"how the answer ended":                                       "回复如何结束",
	"Now close() instead, right after sending:":                  "现在改用 close()，发送后立即关闭：",
	"the closed socket once the answer came (RST: no TIME_WAIT)": "回复到达后，已 close() 的套接字（RST：没有 TIME_WAIT）",

	// Lesson 7.
	"The backlog: the accept queue fills": "backlog：全连接队列被填满",
	"listen(fd, backlog) bounds the accept queue: the connections the kernel has completed and the server has not " +
		"accepted yet. Here the server listens with backlog 2 and never calls accept(). Linux queues backlog+1 connections; " +
		"when the queue is full it drops the next SYN without a word (net.ipv4.tcp_abort_on_overflow=0), so the client " +
		"sees no error, only silence: it sends SYN again after 1 s, 3 s, ... until connect() times out.": "listen(fd, backlog) 限定全连接队列（accept 队列）的长度：内核已完成握手、服务端尚未 accept 的连接。" +
		"这里服务端以 backlog 2 监听，且从不调用 accept()。Linux 最多排队 backlog+1 个连接；" +
		"队列满了以后，内核默默丢弃新来的 SYN（net.ipv4.tcp_abort_on_overflow=0），所以客户端看不到任何错误，" +
		"只有沉默：它在 1 秒、3 秒……之后重发 SYN，直到 connect() 超时。",
	"connections the full accept queue holds with backlog 2": "backlog 为 2 时，满了的全连接队列能容纳的连接数",
	"what connect() returned to the 5 clients":               "5 个客户端的 connect() 各自返回了什么",

	// Lesson 8.
	"Resets: unread data, SO_LINGER 0, ECONNRESET and EPIPE": "重置：未读数据、SO_LINGER 0、ECONNRESET 与 EPIPE",
	"A connection ends with RST instead of FIN when a socket is closed with data it has not read (RFC 2525 asks " +
		"for it: the peer must learn its data was lost), or when SO_LINGER is set to 0, which throws the connection away: " +
		"no FIN, no TIME_WAIT. The peer's next read fails with ECONNRESET, and a write after that with EPIPE.": "当套接字带着未读的数据被关闭时（RFC 2525 要求如此：对端必须知道它的数据丢了），" +
		"或者 SO_LINGER 设为 0 时（直接丢弃连接：没有 FIN，也没有 TIME_WAIT），连接以 RST 而不是 FIN 结束。" +
		"对端接下来的读会失败，得到 ECONNRESET；之后再写则得到 EPIPE。",
	"The server closes with those bytes unread:":                 "服务端在这些字节未读的情况下关闭：",
	"the client's read after the server closed with unread data": "服务端带着未读数据关闭后，客户端的读",
	"the client's write after the reset":                         "连接被重置后，客户端的写",
	"Now a client with SO_LINGER 0 closes:":                      "现在一个设置了 SO_LINGER 0 的客户端关闭：",
	"the server's read after the client closed with SO_LINGER 0": "客户端以 SO_LINGER 0 关闭后，服务端的读",
	"TIME_WAIT on the client that closed with SO_LINGER 0":       "以 SO_LINGER 0 关闭的客户端是否有 TIME_WAIT",
	"RST segments seen on the wire":                              "线路上看到的 RST 报文段",
	"RST segments seen on the wire (from the server)":            "线路上看到的 RST 报文段（来自服务端）",

	// Lesson 9.
	"recv and send flags: MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT, MSG_OOB": "recv 与 send 的标志：MSG_PEEK、MSG_WAITALL、MSG_DONTWAIT、MSG_OOB",
	"MSG_DONTWAIT makes one call non-blocking: -1 and EAGAIN instead of a wait. MSG_PEEK looks at the data " +
		"without taking it: the next recv() returns the same bytes. MSG_WAITALL waits until the whole buffer is filled " +
		"(a stream may deliver a message in pieces; without it recv() returns the first piece). MSG_OOB sends one urgent " +
		"byte, marked by TCP's urgent pointer: a read stops just before it, and recv(MSG_OOB) takes it out of the stream.": "MSG_DONTWAIT 让单次调用变为非阻塞：不等待，而是返回 -1 和 EAGAIN。MSG_PEEK 查看数据但不取走：" +
		"下一次 recv() 返回同样的字节。MSG_WAITALL 一直等到整个缓冲区被填满（字节流可能把一条消息分几次送达；" +
		"没有它，recv() 只返回第一段）。MSG_OOB 发送一个紧急字节（带外数据），由 TCP 的紧急指针标记：" +
		"读操作会停在它前面，recv(MSG_OOB) 把它从流中单独取出。",
	"recv(MSG_DONTWAIT) with nothing to read":                                           "无数据可读时的 recv(MSG_DONTWAIT)",
	"recv(MSG_PEEK), then recv()":                                                       "先 recv(MSG_PEEK)，再 recv()",
	"recv(MSG_WAITALL) for 6 bytes; 3 are there, 3 more come once the call is waiting:": "recv(MSG_WAITALL) 要 6 字节；已有 3 字节，调用阻塞等待时再来 3 字节：",
	"what recv(MSG_WAITALL) of 6 bytes returned over two writes of 3":                   "对端分两次各写 3 字节时，要 6 字节的 recv(MSG_WAITALL) 返回了什么",
	"read() when urgent data came after 2 bytes: it stops at the mark":                  "紧急数据跟在 2 字节之后时的 read()：它停在紧急标记处",
	"recv(MSG_OOB)": "recv(MSG_OOB)",

	// Lesson 10.
	"Unix domain sockets: stream, datagram, seqpacket, passing a descriptor": "Unix 域套接字：流、数据报、有序分组，以及传递描述符",
	"A Unix domain socket connects processes on one machine through a path in the file system (or Linux's abstract " +
		"namespace). SOCK_STREAM is a byte stream like TCP; SOCK_DGRAM keeps message boundaries like UDP, and is reliable; " +
		"SOCK_SEQPACKET keeps boundaries on a connection. The kernel knows who is at the other end (SO_PEERCRED), and " +
		"sendmsg() can pass an open descriptor with SCM_RIGHTS: the receiver gets a new descriptor for the same open file.": "Unix 域套接字通过文件系统中的一个路径（或 Linux 的抽象命名空间）连接同一台机器上的进程。" +
		"SOCK_STREAM 是和 TCP 一样的字节流；SOCK_DGRAM 像 UDP 一样保留消息边界，而且是可靠的；" +
		"SOCK_SEQPACKET 在连接之上保留消息边界。内核知道另一端是谁（SO_PEERCRED），" +
		"sendmsg() 还能用 SCM_RIGHTS 传递一个打开的描述符：接收方得到一个指向同一个已打开文件的新描述符。",
	"what the server read":                                                   "服务端读到的内容",
	"who is at the other end (SO_PEERCRED)":                                  "另一端是谁（SO_PEERCRED）",
	"SO_PEERCRED is Linux's":                                                 "SO_PEERCRED 是 Linux 特有的",
	"two recvfrom() after two sends":                                         "两次发送之后的两次 recvfrom()",
	"records on a SOCK_SEQPACKET connection":                                 "SOCK_SEQPACKET 连接上的记录",
	"SOCK_SEQPACKET for Unix sockets is Linux's here":                        "在这里，Unix 套接字的 SOCK_SEQPACKET 只有 Linux 支持",
	"two recvmsg() of 4 bytes after sending \"first\" and \"second\"":        "发送 \"first\" 和 \"second\" 之后，两次 4 字节的 recvmsg()",
	"sendmsg() with SCM_RIGHTS: fd %d, a file whose name is already removed": "带 SCM_RIGHTS 的 sendmsg()：fd %d，一个文件名已被删除的文件",
	"what the receiver reads through the descriptor it got":                  "接收方通过收到的描述符读到的内容",
	"sent as fd %d, received as fd %d":                                       "发送时是 fd %d，收到时是 fd %d",

	// Lesson 11.
	"The reactor: one event loop, many connections": "Reactor：一个事件循环，许多连接",
	"A reactor serves many connections from one thread: it asks epoll_wait() which sockets are ready, and makes " +
		"for each only the call that will not block (accept, read, write), then asks again. So the loop must never block: " +
		"while one handler waits, every other connection waits too. Here sockit's engine runs one loop; each of its waits " +
		"is shown (epoll_wait = N ready). Then a handler blocks on purpose: the others' messages pile up unanswered, and " +
		"the next epoll_wait reports them all at once.": "Reactor 用一个线程服务许多连接：它用 epoll_wait() 询问哪些套接字就绪，" +
		"对每个就绪的套接字只做不会阻塞的调用（accept、read、write），然后再次询问。所以事件循环绝不能阻塞：" +
		"一个处理函数在等待时，其他所有连接也都在等。这里 sockit 的引擎只运行一个事件循环，每次等待都会显示出来" +
		"（epoll_wait = N 个就绪）。然后一个处理函数故意阻塞：其他连接的消息堆积起来无人应答，" +
		"下一次 epoll_wait 把它们一次全部报告出来。",
	"Each client sends a line and reads the echo: one loop serves them all.":                "每个客户端发送一行并读取回显：一个事件循环服务所有客户端。",
	"clients answered by the one loop":                                                      "由这一个事件循环应答的客户端数",
	"The blocker sends \"stall\": its handler blocks the loop, as a handler must never do.": "blocker 发送 \"stall\"：它的处理函数阻塞了事件循环——处理函数绝不应该这样做。",
	"clients still waiting for an answer while the loop is blocked":                         "事件循环阻塞期间仍在等待应答的客户端数",
	"The handler returns; the loop waits again:":                                            "处理函数返回；事件循环再次等待：",
	"sockets the first epoll_wait after the stall reported ready":                           "阻塞结束后第一次 epoll_wait 报告就绪的套接字数",
	"clients answered once the loop ran again":                                              "事件循环恢复运行后得到应答的客户端数",
}
