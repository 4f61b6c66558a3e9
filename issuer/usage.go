package issuer

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/usage"
)

// Use is one use of a token that a verifier reports: the token jti was
// presented at At by a client at Client (the zero Addr when unknown), with
// Outcome: "accepted", or the reason it was refused ("revoked",
// "expired", "ip", "permission", ...: 1 to 32 characters of [a-z0-9_]
// starting with a letter), as the body of POST /v1/usage carries it.
type Use struct {
	JTI     string
	At      time.Time
	Client  netip.Addr
	Outcome string
}

// MaxRecordUses is the most uses RecordUsage takes at once: those of one
// report (POST /v1/usage).
const MaxRecordUses = usage.MaxUses

// The bounds of a token's usage summary, whatever verifiers report.
const (
	// MaxUsageReasons is the most refusal reasons a summary counts apart;
	// refusals for other reasons count under "other".
	MaxUsageReasons = 16
	// MaxUsageClients is the most client addresses a summary holds; the
	// uses from further addresses are counted in Usage.ClientsOverflow.
	MaxUsageClients = 32
	// MaxUsageNetworks is the most networks a summary remembers for the
	// new-network event: a token used from that many networks raises no
	// more of them.
	MaxUsageNetworks = 32
	// UsageRetention is how long a summary keeps its days, and how long
	// it outlives its token's expiry (see PruneUsage). Uses older than it
	// are ignored.
	UsageRetention = 90 * 24 * time.Hour
	// UsageDays is how many days of a summary Show returns, today's
	// included.
	UsageDays = 30
	// UsageClockSkew is how far in the future a use may be, by the
	// issuer's clock, and be recorded (as now); one later is ignored.
	UsageClockSkew = time.Minute
	// usageAlertEvery is how often, at most, a token's uses after its
	// revocation are recorded in the audit log.
	usageAlertEvery = time.Hour
	// usageIssueLeeway is how long before a token's issuance a use may be,
	// by the verifier's clock, and be recorded (as at the issuance): the
	// verifiers' clock leeway.
	usageIssueLeeway = 30 * time.Second
	// otherReason counts the refusals beyond MaxUsageReasons.
	otherReason = "other"
)

// UsageReport says what RecordUsage did with the uses it was given.
type UsageReport struct {
	// Recorded counts the uses added to their token's summary.
	Recorded int
	// UnknownTokens counts the uses of jtis that this issuer never issued,
	// ignored: anyone may present made-up tokens to a verifier.
	UnknownTokens int
	// Unverifiable counts the uses with the outcome "unverifiable",
	// ignored: no signature vouches for their jti.
	Unverifiable int
	// OutOfRange counts the uses ignored for their time: before their
	// token's issuance, beyond UsageClockSkew in the future, or older than
	// UsageRetention.
	OutOfRange int
	// NewNetworks counts the token.used.new_network events recorded.
	NewNetworks int
	// AfterRevocation counts the uses recorded that came after their
	// token's revocation (or were refused as revoked); Alerts the
	// token.used.after_revocation events recorded for them.
	AfterRevocation, Alerts int
	// Failed counts the uses of the parts of a batch that could not be
	// recorded after others were (see ErrUsagePartlyRecorded).
	Failed int
}

// Ignored counts the uses that RecordUsage did not record.
func (r UsageReport) Ignored() int { return r.UnknownTokens + r.Unverifiable + r.OutOfRange + r.Failed }

// add adds the counts of part, a part of a batch, to r.
func (r *UsageReport) add(part UsageReport) {
	r.Recorded += part.Recorded
	r.UnknownTokens += part.UnknownTokens
	r.OutOfRange += part.OutOfRange
	r.NewNetworks += part.NewNetworks
	r.AfterRevocation += part.AfterRevocation
	r.Alerts += part.Alerts
}

// usagePart is the most tokens whose uses RecordUsage records in one
// transaction: a batch of 10,000 uses of as many tokens would otherwise
// hold the database's write lock, which revocations and issuance wait
// for, for up to seconds.
const usagePart = 256

// RecordUsage adds uses, at most MaxRecordUses of them, to the usage
// summaries of their tokens (see Details.Usage), with the audit events
// they raise (see below for the transactions), and returns what it did; reporter, who
// reported them, is their actor. Uses of tokens this issuer did not issue
// are ignored, as are unverifiable ones and those whose time cannot be
// (see UsageReport).
//
// What counts:
//   - First and last use: the first and last time a token was presented,
//     whatever the outcome; the client of the last.
//   - Uses: the accepted ones; refusals are counted by reason, at most
//     MaxUsageReasons reasons apart, the others as "other". The outcomes
//     "permission" and "scope" are a middleware's refusals of a request
//     whose token its verifier accepted and reported: they count as
//     refusals, not as more uses or presentations from a client.
//   - Days: uses and refusals per UTC day, kept for UsageRetention.
//   - Clients: the first MaxUsageClients client addresses, with the first
//     and last time and the count of each; the uses from further ones are
//     counted in ClientsOverflow.
//   - Networks: the IPv4 /24 or IPv6 /48 of each client address. A use
//     from a network that no earlier use of the token came from records a
//     token.used.new_network event, but for the token's first network:
//     at most MaxUsageNetworks of them per token.
//   - A use presented after the token's revocation took effect, or refused
//     as revoked, records a token.used.after_revocation event, at most one
//     per token an hour, so that a leaked token hammering an API cannot
//     flood the audit log.
//
// Times are taken as the verifiers give them, within bounds: a use up to
// UsageClockSkew in the future counts as now, and one up to the verifiers'
// leeway (30 s) before its token's issuance as at its issuance; others
// beyond these, and uses older than UsageRetention, are ignored.
//
// A use with an empty jti or one longer than 128 bytes, or a malformed
// outcome, is an error wrapping ErrRequest, and nothing is recorded.
//
// Uses are recorded in parts of the uses of at most 256 tokens, each part
// in one transaction with its events, so that a large batch does not hold
// the database's write lock for long. Should a part fail after others were
// recorded, RecordUsage returns what it recorded with an error wrapping
// ErrUsagePartlyRecorded; on any other error nothing was recorded.
func (i *Issuer) RecordUsage(ctx context.Context, uses []Use, reporter string) (UsageReport, error) {
	var rep UsageReport
	if len(uses) > MaxRecordUses {
		return rep, fmt.Errorf("%w: %d uses, at most %d at once", ErrRequest, len(uses), MaxRecordUses)
	}
	if err := audit.CheckActor(reporter); err != nil {
		return rep, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	byToken := map[string][]int{}
	var jtis []string
	for n, u := range uses {
		switch {
		case u.JTI == "" || len(u.JTI) > usage.MaxJTI:
			// Not quoted: it may be long.
			return rep, fmt.Errorf("%w: use %d: a jti of %d bytes, not 1 to %d", ErrRequest, n, len(u.JTI), usage.MaxJTI)
		case !usage.IsOutcome(u.Outcome):
			return rep, fmt.Errorf("%w: use %d: malformed outcome %q", ErrRequest, n, u.Outcome)
		case u.Outcome == usage.Unverifiable:
			rep.Unverifiable++
			continue
		}
		if _, ok := byToken[u.JTI]; !ok {
			jtis = append(jtis, u.JTI)
		}
		byToken[u.JTI] = append(byToken[u.JTI], n)
	}
	for start := 0; start < len(jtis); start += usagePart {
		part := jtis[start:min(start+usagePart, len(jtis))]
		pr, err := UsageReport{}, ctx.Err() // no part begun once ctx is done
		if err == nil {
			pr, err = i.recordUsagePart(ctx, part, byToken, uses, reporter)
		}
		if err != nil {
			if start == 0 {
				return UsageReport{}, err // nothing recorded: the batch may be sent again
			}
			for _, jti := range jtis[start:] {
				rep.Failed += len(byToken[jti])
			}
			return rep, fmt.Errorf("%w: %d of %d uses not: %w", ErrUsagePartlyRecorded, rep.Failed, len(uses), err)
		}
		rep.add(pr)
	}
	return rep, nil
}

// recordUsagePart records, in one transaction, the uses of the tokens
// jtis (byToken: their indexes in uses).
func (i *Issuer) recordUsagePart(ctx context.Context, jtis []string, byToken map[string][]int, uses []Use, reporter string) (UsageReport, error) {
	var rep UsageReport
	tx, err := i.cfg.Store.Begin(ctx)
	if err != nil {
		return rep, fmt.Errorf("issuer: record usage: %w", err)
	}
	defer tx.Rollback()
	toks, err := tx.TokenGetMany(ctx, jtis)
	if err != nil {
		return rep, fmt.Errorf("issuer: record usage: %w", err)
	}
	known := make([]string, len(toks))
	for n, t := range toks {
		known[n] = t.JTI
	}
	prev, err := tx.UsageGet(ctx, known, false)
	if err != nil {
		return rep, fmt.Errorf("issuer: record usage: %w", err)
	}
	summaries := map[string]*store.Usage{}
	for n := range prev {
		summaries[prev[n].JTI] = &prev[n]
	}
	m := usageMerge{now: i.cfg.Now(), reporter: reporter, rep: &rep}
	found := map[string]bool{}
	for n := range toks {
		t := &toks[n]
		found[t.JTI] = true
		m.token(t, summaries[t.JTI], uses, byToken[t.JTI])
	}
	for _, jti := range jtis {
		if !found[jti] {
			rep.UnknownTokens += len(byToken[jti])
		}
	}
	if err := tx.UsageRecord(ctx, m.deltas); err != nil {
		return rep, fmt.Errorf("issuer: record usage: %w", err)
	}
	if err := tx.TokenInsertMany(ctx, nil, m.events); err != nil {
		return rep, fmt.Errorf("issuer: record usage: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("issuer: record usage: %w", err)
	}
	return rep, nil
}

// usageMerge turns the uses of a batch into the deltas of their tokens'
// summaries and the events they raise.
type usageMerge struct {
	now      time.Time
	reporter string
	rep      *UsageReport
	deltas   []store.Usage
	events   []store.AuditRow
	sorted   []Use // scratch
}

// token adds the delta of the uses idx of uses, all of token t, whose
// summary before the batch is prev (nil when none).
func (m *usageMerge) token(t *store.TokenRow, prev *store.Usage, uses []Use, idx []int) {
	now, issued := m.now.Unix(), t.IssuedAt
	m.sorted = m.sorted[:0]
	for _, n := range idx {
		u := uses[n]
		at := u.At.Unix()
		switch {
		case u.At.After(m.now.Add(UsageClockSkew)), at < issued-int64(usageIssueLeeway/time.Second), u.At.Before(m.now.Add(-UsageRetention)):
			m.rep.OutOfRange++
			continue
		case at > now:
			u.At = m.now
		case at < issued:
			u.At = time.Unix(issued, 0)
		}
		u.Client = u.Client.Unmap().WithZone("")
		m.sorted = append(m.sorted, u)
	}
	if len(m.sorted) == 0 {
		return
	}
	// In time order, so that the first network of the token is its
	// first use's.
	slices.SortStableFunc(m.sorted, func(a, b Use) int { return a.At.Compare(b.At) })

	d := store.Usage{JTI: t.JTI}
	// Keyed by value, not by text: no string per use.
	clients := map[netip.Addr]int{}     // address: index in d.Clients, or -1 when prev holds it
	reasons := map[string]int{}         // reason: index in d.Reasons
	networks := map[netip.Prefix]bool{} // every network the summary holds
	known := 0                          // distinct reasons apart from "other"
	if prev != nil {
		d.AlertedAt = prev.AlertedAt
		for _, c := range prev.Clients {
			if a, err := netip.ParseAddr(c.Addr); err == nil {
				clients[a] = -1
			}
		}
		for _, r := range prev.Reasons {
			reasons[r.Reason] = -1
			if r.Reason != otherReason {
				known++
			}
		}
		for _, n := range prev.Networks {
			if p, err := netip.ParsePrefix(n.Network); err == nil {
				networks[p] = true
			}
		}
	}
	days := map[int64]int{} // day: index in d.Days
	var revoked *Use
	for n := range m.sorted {
		u := &m.sorted[n]
		at := u.At.Unix()
		if d.First == 0 {
			d.First = at
		}
		d.Last = at
		day, ok := days[at/86400]
		if !ok {
			day = len(d.Days)
			days[at/86400] = day
			d.Days = append(d.Days, store.UsageDay{Day: at / 86400})
		}
		if u.Outcome == usage.Accepted {
			d.Uses++
			d.Days[day].Uses++
		} else {
			d.Days[day].Refused++
			reason := u.Outcome
			r, ok := reasons[reason]
			if !ok && reason != otherReason && known >= MaxUsageReasons {
				reason = otherReason
				r, ok = reasons[reason]
			}
			if !ok || r < 0 {
				if !ok && reason != otherReason {
					known++
				}
				r = len(d.Reasons)
				reasons[reason] = r
				d.Reasons = append(d.Reasons, store.UsageReason{Reason: reason})
			}
			d.Reasons[r].N++
		}
		m.rep.Recorded++
		if u.Outcome == usage.Permission || u.Outcome == usage.Scope {
			continue // the accepted use of the same request counts for the rest
		}
		if u.Outcome == usage.Revoked || t.RevokedAt != 0 && at >= t.RevokedAt {
			m.rep.AfterRevocation++
			revoked = u
		}
		if u.Client.IsValid() {
			m.client(&d, clients, networks, t, u)
		}
	}
	if last := m.sorted[len(m.sorted)-1].Client; last.IsValid() {
		d.LastClient = last.String()
	}
	if revoked != nil && now-d.AlertedAt >= int64(usageAlertEvery/time.Second) {
		d.AlertedAt = now
		m.rep.Alerts++
		m.event(t, audit.UsedAfterRevocation, fmt.Sprintf("presented at %s from %s, outcome %s", revoked.At.UTC().Format(time.RFC3339), clientName(revoked.Client), revoked.Outcome))
	}
	m.deltas = append(m.deltas, d)
}

// client counts the use u from its client address in d, and the network
// of the address, recording an event when the network is new to a token
// that was used from another before.
func (m *usageMerge) client(d *store.Usage, clients map[netip.Addr]int, networks map[netip.Prefix]bool, t *store.TokenRow, u *Use) {
	at, addr := u.At.Unix(), u.Client
	c, ok := clients[addr]
	switch {
	case !ok && len(clients) >= MaxUsageClients:
		d.ClientsOverflow++
	case !ok || c < 0:
		clients[addr] = len(d.Clients)
		d.Clients = append(d.Clients, store.UsageClient{Addr: addr.String(), First: at, Last: at, Uses: 1})
	default:
		d.Clients[c].Last = at
		d.Clients[c].Uses++
	}
	network := usageNetwork(u.Client)
	if networks[network] || len(networks) >= MaxUsageNetworks {
		return
	}
	if len(networks) > 0 {
		m.rep.NewNetworks++
		m.event(t, audit.UsedNewNetwork, fmt.Sprintf("network %s: client %s at %s, %s", network, addr, u.At.UTC().Format(time.RFC3339), u.Outcome))
	}
	networks[network] = true
	d.Networks = append(d.Networks, store.UsageNetwork{Network: network.String(), First: at})
}

// event records an event of action about t.
func (m *usageMerge) event(t *store.TokenRow, action, detail string) {
	m.events = append(m.events, store.AuditRow{At: m.now.UnixMilli(), Actor: m.reporter, Action: action,
		Subject: t.Subject, JTI: t.JTI, KID: t.KID, Detail: detail})
}

// usageNetwork is the network of a client address for the new-network
// event: its IPv4 /24, or its IPv6 /48 (a site, in the usual assignment).
func usageNetwork(a netip.Addr) netip.Prefix {
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

// clientName is a client address as events write it.
func clientName(a netip.Addr) string {
	if !a.IsValid() {
		return "an unknown address"
	}
	return a.String()
}

// PruneUsage deletes the days of usage summaries older than
// UsageRetention, and the whole summaries of tokens that expired more
// than UsageRetention ago, and returns how many rows it deleted. The
// tokens themselves stay in the ledger. writ serve prunes on its own.
func (i *Issuer) PruneUsage(ctx context.Context) (int64, error) {
	cutoff := i.cfg.Now().Add(-UsageRetention).Unix()
	n, err := i.cfg.Store.UsagePrune(ctx, cutoff/86400, cutoff)
	if err != nil {
		return 0, fmt.Errorf("issuer: prune usage: %w", err)
	}
	return n, nil
}

// Usage is what verifiers reported of a token's uses (see RecordUsage).
type Usage struct {
	// FirstUse and LastUse are when the token was first and last
	// presented, whatever the outcome; LastClient is the client address
	// of the last presentation, left out when unknown.
	FirstUse   time.Time  `json:"first_use"`
	LastUse    time.Time  `json:"last_use"`
	LastClient netip.Addr `json:"last_client_ip,omitzero"`
	// Uses counts the accepted uses.
	Uses int64 `json:"uses"`
	// Refusals counts the refusals by reason (at most MaxUsageReasons
	// reasons and "other").
	Refusals map[string]int64 `json:"refusals"`
	// Days are the UTC days of the last UsageDays with uses or refusals,
	// oldest first.
	Days []UsageDay `json:"days"`
	// Clients are the client addresses seen (at most MaxUsageClients),
	// most recently seen first; ClientsOverflow counts the uses from
	// addresses beyond them.
	Clients         []UsageClient `json:"clients"`
	ClientsOverflow int64         `json:"clients_overflow"`
}

// UsageDay counts the uses and refusals of a token on one UTC day.
type UsageDay struct {
	Date    string `json:"date"` // 2006-01-02
	Uses    int64  `json:"uses"`
	Refused int64  `json:"refused"`
}

// UsageClient is a client address that presented a token.
type UsageClient struct {
	IP    netip.Addr `json:"ip"`
	First time.Time  `json:"first"`
	Last  time.Time  `json:"last"`
	Uses  int64      `json:"uses"`
}

// usageOf returns the usage that the summary u says, at the time now.
func usageOf(u *store.Usage, now time.Time) *Usage {
	out := &Usage{FirstUse: time.Unix(u.First, 0).UTC(), LastUse: time.Unix(u.Last, 0).UTC(), Uses: u.Uses,
		Refusals: map[string]int64{}, Days: []UsageDay{}, Clients: []UsageClient{}, ClientsOverflow: u.ClientsOverflow}
	out.LastClient, _ = netip.ParseAddr(u.LastClient) // the zero Addr for none (or a tampered row)
	for _, r := range u.Reasons {
		out.Refusals[r.Reason] = r.N
	}
	from := now.Unix()/86400 - UsageDays + 1
	for _, d := range u.Days {
		if d.Day >= from {
			out.Days = append(out.Days, UsageDay{Date: time.Unix(d.Day*86400, 0).UTC().Format(time.DateOnly), Uses: d.Uses, Refused: d.Refused})
		}
	}
	for _, c := range u.Clients {
		if a, err := netip.ParseAddr(c.Addr); err == nil {
			out.Clients = append(out.Clients, UsageClient{IP: a, First: time.Unix(c.First, 0).UTC(), Last: time.Unix(c.Last, 0).UTC(), Uses: c.Uses})
		}
	}
	slices.SortStableFunc(out.Clients, func(a, b UsageClient) int { return b.Last.Compare(a.Last) })
	return out
}
