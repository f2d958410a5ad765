// Command ferretdb-local runs FerretDB 1.x (a MongoDB wire-protocol server) on PostgreSQL, or on
// its SQLite backend.
//
// It embeds FerretDB as a library instead of installing its command: `go install` of the upstream
// command panics at start because a generated version file is not part of the module.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	rtdebug "runtime/debug"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// quietCancels drops the error FerretDB logs for a query that its client stopped early on purpose:
// a read with maxTimeMS that closes its cursor makes FerretDB cancel the storage's query, instead of
// letting PostgreSQL produce every remaining row (see the gateway's history module).
type quietCancels struct{ slog.Handler }

func (h quietCancels) Handle(ctx context.Context, r slog.Record) error {
	canceled := false
	r.Attrs(func(a slog.Attr) bool {
		canceled = a.Key == "err" && strings.Contains(a.Value.String(), context.Canceled.Error())
		return !canceled
	})
	if canceled {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietCancels) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietCancels{h.Handler.WithAttrs(attrs)}
}

func (h quietCancels) WithGroup(name string) slog.Handler {
	return quietCancels{h.Handler.WithGroup(name)}
}

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("sqlite-dir", "./data", "directory holding the SQLite databases (without -postgresql-url)")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL; when set, data lives in PostgreSQL, not SQLite")
	debug := flag.Bool("debug", false, "log every connection (FerretDB logs them at INFO)")
	flag.Parse()

	// FerretDB allocates several objects per field of every document it decodes: with Go's default
	// (a collection each time the heap doubles) a third of its CPU went to the collector under
	// reads of thousands of documents. Four times the live heap is a few hundred MB at most here,
	// and took 20-35% off the CPU of a read (measured side by side). GOGC still overrides it.
	if os.Getenv("GOGC") == "" {
		rtdebug.SetGCPercent(400)
	}

	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(quietCancels{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})})

	conf := ferretdb.Config{Listener: ferretdb.ListenerConfig{TCP: *listen}, Logger: logger}
	var where string
	if *pgURL != "" {
		u, err := url.Parse(*pgURL)
		if err != nil {
			log.Fatalf("-postgresql-url is not a URL such as postgres://user@127.0.0.1:5432/db: %v", err)
		}
		where = u.Redacted() // never a password in the log
		conf.Handler = "postgresql"
		conf.PostgreSQLURL = *pgURL
	} else {
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			log.Fatalf("cannot create %s: %v", *dir, err)
		}
		conf.Handler = "sqlite"
		conf.SQLiteURL = "file:" + *dir + "/"
		where = *dir
	}

	f, err := ferretdb.New(&conf)
	if err != nil {
		log.Fatalf("cannot configure FerretDB: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	log.Printf("FerretDB listening on %s, data in %s", *listen, where)
	if err := f.Run(ctx); err != nil {
		log.Fatalf("FerretDB stopped: %v", err)
	}
}
