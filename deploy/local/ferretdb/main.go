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
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("sqlite-dir", "./data", "directory holding the SQLite databases (without -postgresql-url)")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL; when set, data lives in PostgreSQL, not SQLite")
	debug := flag.Bool("debug", false, "log every connection (FerretDB logs them at INFO)")
	flag.Parse()

	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

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
