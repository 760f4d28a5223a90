package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"hostelhub/store"
)

// seedDemo fills an empty database with the demo's hostels, issues and
// accounts, and prints the accounts.
func seedDemo(ctx context.Context, st *store.Store, stdout io.Writer) error {
	empty, err := st.Empty(ctx)
	if err != nil {
		return err
	}
	if !empty {
		fmt.Fprintln(stdout, "Demo mode: the database already has data; the demo accounts (password \"demo\") are those printed when it was filled.")
		return nil
	}
	accounts, err := st.Seed(ctx, store.SeedOptions{Hostels: 3, Issues: 600, Days: 90, Password: "demo", Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Demo mode: filled the database with 3 hostels and 600 issues over 90 days. Accounts, all with the password \"demo\":")
	for _, acc := range accounts {
		where := acc.Hostel
		if where == "" {
			where = "every hostel"
		}
		fmt.Fprintf(stdout, "  %-22s %-11s %s\n", acc.Email, acc.Role, where)
	}
	return nil
}
