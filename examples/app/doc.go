// Command app is bosun's example container image: a tiny static HTTP server
// that answers with its pod name and version, plus a few subcommands so that
// one image serves every end-to-end test (there is no busybox here).
//
// Without arguments (or with "serve") it listens on $PORT (default 8080):
//
//	/         "hello from <POD_NAME> (version <VERSION>)\n"
//	/healthz  200, for liveness probes
//	/ready    200 when ready, 503 before
//	/env      the environment, one VAR=value a line, sorted
//	/file     ?path=P prints the file P (volume tests)
//	/burn     ?ms=N keeps one CPU busy for N ms, then answers (autoscaling load)
//
// The version is baked in at build time with -ldflags "-X main.version=v1"
// and overridden by $VERSION. Environment knobs for demos and tests:
//
//	CRASH_AFTER=<duration>          exit 1 after that long (0: at once)
//	HANG=1                          /healthz never answers (liveness times out)
//	FAIL_LIVENESS_AFTER=<duration>  /healthz answers 500 after that long
//	READY_AFTER=<duration>          /ready answers 503 until then
//	NOT_READY=1                     /ready always answers 503
//
// Every request is logged to stdout with a timestamp. SIGTERM (or SIGINT)
// shuts the server down gracefully and exits 0.
//
// Subcommands, for tests that need a shell-like tool:
//
//	app sleep SECONDS     sleep, exit 0 (SIGTERM ends it early, exit 0); says
//	                      "app sleep: sleeping ..." once SIGTERM is handled
//	app exit CODE         exit with CODE at once
//	app ignore-term       ignore SIGTERM and sleep forever (needs SIGKILL)
//	app cat FILE...       print files
//	app write FILE TEXT   append TEXT and a newline to FILE (created if missing)
//	app env               print the environment
//	app get URL           GET URL, print the body; exit 1 unless 2xx
//	app version           print the version
//
// Build it into images with `make images` (see examples/app/appimage).
package main
