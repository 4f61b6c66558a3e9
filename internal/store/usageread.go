package store

// The part of reading usage summaries that both engines share: the
// statements, but for their condition on jti, and the gathering of rows
// into summaries.

// Row is a row of a result, as each engine's driver scans one.
type Row interface{ Scan(dest ...any) error }

// UsageQuery runs the statement query and calls fn with each row,
// stopping at fn's first error, which it returns.
type UsageQuery func(query string, fn func(Row) error) error

// ReadUsage reads summaries for an engine's Executor.UsageGet: in is the
// engine's condition that the column jti is among the jtis asked for,
// and run runs each statement, with those jtis as its argument.
func ReadUsage(in string, days bool, run UsageQuery) ([]Usage, error) {
	var out []Usage
	at := map[string]int{}
	err := run(`SELECT jti, first_use, last_use, last_client, uses, clients_overflow, alerted_at
		FROM usage_tokens WHERE `+in+` ORDER BY jti`, func(r Row) error {
		var u Usage
		if err := r.Scan(&u.JTI, &u.First, &u.Last, &u.LastClient, &u.Uses, &u.ClientsOverflow, &u.AlertedAt); err != nil {
			return err
		}
		at[u.JTI] = len(out)
		out = append(out, u)
		return nil
	})
	if err == nil && len(out) > 0 {
		err = gather(run, `SELECT jti, reason, n FROM usage_reasons WHERE `+in+` ORDER BY jti, reason`, out, at,
			func(v *UsageReason) []any { return []any{&v.Reason, &v.N} },
			func(u *Usage, v UsageReason) { u.Reasons = append(u.Reasons, v) })
	}
	if err == nil && len(out) > 0 {
		err = gather(run, `SELECT jti, addr, first_seen, last_seen, uses FROM usage_clients WHERE `+in+` ORDER BY jti, addr`, out, at,
			func(v *UsageClient) []any { return []any{&v.Addr, &v.First, &v.Last, &v.Uses} },
			func(u *Usage, v UsageClient) { u.Clients = append(u.Clients, v) })
	}
	if err == nil && len(out) > 0 {
		err = gather(run, `SELECT jti, network, first_seen FROM usage_networks WHERE `+in+` ORDER BY jti, network`, out, at,
			func(v *UsageNetwork) []any { return []any{&v.Network, &v.First} },
			func(u *Usage, v UsageNetwork) { u.Networks = append(u.Networks, v) })
	}
	if err == nil && len(out) > 0 && days {
		err = gather(run, `SELECT jti, day, uses, refused FROM usage_days WHERE `+in+` ORDER BY jti, day`, out, at,
			func(v *UsageDay) []any { return []any{&v.Day, &v.Uses, &v.Refused} },
			func(u *Usage, v UsageDay) { u.Days = append(u.Days, v) })
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// gather runs query, which selects jti and the fields of a T, and adds
// each T to its summary in sums (at: the index of each jti) with add. A
// row of a summary that sums does not hold (made between the statements,
// outside a transaction) is left out.
func gather[T any](run UsageQuery, query string, sums []Usage, at map[string]int, fields func(v *T) []any, add func(u *Usage, v T)) error {
	return run(query, func(r Row) error {
		var jti string
		var v T
		if err := r.Scan(append([]any{&jti}, fields(&v)...)...); err != nil {
			return err
		}
		if i, ok := at[jti]; ok {
			add(&sums[i], v)
		}
		return nil
	})
}

// UsagePage is how many summaries an engine's Executor.UsageEach reads at
// a time (see EachUsage).
const UsagePage = 500

// EachUsage calls fn with every summary, for an engine's
// Executor.UsageEach: page returns the jtis of the first UsagePage
// summaries whose jti comes after after, in order, and get reads them, as
// UsageGet does with their days.
func EachUsage(page func(after string) ([]string, error), get func(jtis []string) ([]Usage, error), fn func(u *Usage) error) error {
	after := ""
	for {
		jtis, err := page(after)
		if err != nil || len(jtis) == 0 {
			return err
		}
		us, err := get(jtis)
		if err != nil {
			return err
		}
		for i := range us {
			if err := fn(&us[i]); err != nil {
				return err
			}
		}
		after = jtis[len(jtis)-1]
	}
}
