package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"hostelhub/store"
)

// userAdd adds an account from the command line, for real deployments.
func userAdd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hostelhub user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", orDefault(getenv("DATABASE_URL"), "hostelhub.db"), "SQLite file path or postgres:// URL (DATABASE_URL)")
	email := fs.String("email", "", "the account's email (required)")
	name := fs.String("name", "", "the person's name (required)")
	role := fs.String("role", "", "student, warden or management (required)")
	room := fs.String("room", "", "a student's room")
	hostelList := fs.String("hostels", "", "comma-separated hostel names or ids: one for a student, one or more for a warden; a hostel named here that does not exist yet is created")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hostelhub user add -email E -name N -role R [-hostels H1,H2] [-room R] < password-file")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	r := store.Role(*role)
	switch {
	case *email == "" || *name == "":
		return errors.New("user add: -email and -name are required")
	case !r.Valid():
		return fmt.Errorf("user add: -role must be student, warden or management, not %q", *role)
	}
	password, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("user add: reading the password: %w", err)
	}
	password = strings.TrimRight(password, "\r\n")
	if len(password) < 8 || len(password) > 72 {
		return errors.New("user add: the password (first line of standard input) must be 8 to 72 bytes")
	}
	st, err := store.Open(ctx, *dbURL, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	var hostelIDs []int64
	for _, ref := range strings.Split(*hostelList, ",") {
		if ref = strings.TrimSpace(ref); ref == "" {
			continue
		}
		id, err := st.HostelRef(ctx, ref)
		if err != nil {
			return fmt.Errorf("user add: hostel %q: %w", ref, err)
		}
		hostelIDs = append(hostelIDs, id)
	}
	switch {
	case r == store.Student && len(hostelIDs) != 1:
		return errors.New("user add: a student belongs to exactly one hostel (-hostels)")
	case r == store.Warden && len(hostelIDs) == 0:
		return errors.New("user add: a warden looks after at least one hostel (-hostels)")
	case r == store.Management && len(hostelIDs) > 0:
		return errors.New("user add: management sees every hostel; leave -hostels out")
	}
	id, err := st.CreateUser(ctx, store.NewUser{Email: *email, Name: *name, Password: password, Role: r, Room: *room, HostelIDs: hostelIDs})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s (%s), user %d\n", *email, r, id)
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
