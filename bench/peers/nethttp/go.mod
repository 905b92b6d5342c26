module github.com/sockit/sockit/bench/peers/nethttp

go 1.26.8
