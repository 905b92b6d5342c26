package cli

import (
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/sockit/sockit/engine"
)

// TestFlagCompletion checks that shell completion offers the values of
// each flag that takes one of a few, and paths for a flag that names a
// file: what `sockit __complete`, which the completion scripts call,
// prints.
func TestFlagCompletion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args      []string
		values    []string // each value offered, in order (descriptions aside)
		directive cobra.ShellCompDirective
	}{
		{args: []string{"serve", "--service", ""}, values: []string{"echo", "discard", "chargen", "daytime"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"serve", "--service", ""}, values: []string{"echo", "discard", "chargen", "daytime"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"serve", "--engine", ""}, values: engineNames(), directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"serve", "--accept", ""}, values: []string{"shared", "reuseport"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"bench", "127.0.0.1:7007", "--mode", ""}, values: []string{"echo", "sink", "source"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"bench", "127.0.0.1:7007", "--payload", ""}, values: []string{"random", "zeros", "@"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"connect", "--proxy-protocol", ""}, values: []string{"1", "2"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"relay", "--proxy-protocol", ""}, values: []string{"1", "2"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"serve", "--cert", ""}, values: nil, directive: cobra.ShellCompDirectiveDefault},
		{args: []string{"send", "--ca", ""}, values: nil, directive: cobra.ShellCompDirectiveDefault},
		{args: []string{"bench", "x", "--html", ""}, values: nil, directive: cobra.ShellCompDirectiveDefault},
		{args: []string{"send", "--send-call", ""}, values: []string{"write", "send", "sendto", "sendmsg", "writev"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"connect", "--recv-call", ""}, values: []string{"read", "recv", "recvfrom", "recvmsg", "readv"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"send", "--recv-flags", ""}, values: []string{"peek", "waitall", "dontwait", "oob", "dontroute"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"connect", "--shutdown", ""}, values: []string{"wr", "rd", "rdwr", "none"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"serve", "--urgent", ""}, values: []string{"receive", "inline", "off"}, directive: cobra.ShellCompDirectiveNoFileComp},
		{args: []string{"send", "--pass-fd", ""}, values: nil, directive: cobra.ShellCompDirectiveDefault},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			app, out, _ := newTestApp()
			cmd := NewRootCmd(app)
			cmd.SetArgs(append([]string{cobra.ShellCompRequestCmd}, tt.args...))
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			var values []string
			for _, l := range lines[:len(lines)-1] {
				v, _, _ := strings.Cut(l, "\t")
				values = append(values, v)
			}
			if got, want := strings.Join(values, " "), strings.Join(tt.values, " "); got != want {
				t.Errorf("values %q, want %q\n%s", got, want, out)
			}
			if got, want := lines[len(lines)-1], ":"+strconv.Itoa(int(tt.directive)); got != want {
				t.Errorf("directive %s, want %s", got, want)
			}
		})
	}
}

// engineNames are the backends the engine has here: std, and epoll on
// Linux.
func engineNames() []string {
	var names []string
	for _, b := range engine.Backends() {
		names = append(names, string(b))
	}
	return names
}
