//go:build unix

package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestColdStart runs the measurement once: each program is built, starts,
// and accepts the token (the golang-jwt equivalent and the verifier-only
// program included) or greets, and the table has a row for each, with the
// columns that its kind of program measures. It builds them as
// lambdatest.Build does for a test, reusing the packages compiled for it:
// as deployed, they would be compiled anew. It asserts no times.
func TestColdStart(t *testing.T) {
	var out strings.Builder
	if err := run(&out, 1, false); err != nil {
		t.Fatal(err)
	}
	rows := table(t, out.String())
	for _, tc := range []struct {
		name             string
		init, fromInside bool // which columns hold figures rather than "-"
	}{
		{"writ", true, false},
		{"golang-jwt", true, false},
		{"baseline", true, false},
		{"verifier-only", false, true},
		{"hello", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row, ok := rows[tc.name]
			if !ok {
				t.Fatalf("no row for %s in\n%s", tc.name, out.String())
			}
			for i, measured := range map[int]bool{2: tc.init, 3: tc.init, 7: tc.fromInside, 8: tc.fromInside, 9: tc.fromInside} {
				if (row[i] != "-") != measured {
					t.Errorf("column %d is %q, want a figure: %v", i, row[i], measured)
				}
			}
			if n, err := strconv.Atoi(row[11]); err != nil || n <= 0 {
				t.Errorf("page faults %q, want a count", row[11])
			}
			if !strings.Contains(out.String(), tc.name+": examples/lambda") {
				t.Errorf("no description of %s in\n%s", tc.name, out.String())
			}
		})
	}
	if !strings.Contains(out.String(), "A page fault on fresh memory costs ") {
		t.Errorf("no price of a page fault in\n%s", out.String())
	}
	if got := rows["hello"][6]; got != "0.00" {
		t.Errorf("hello is %s ms over itself", got)
	}
}

// TestReport: the comparison with the bare Go process is each program's
// median first answer less hello's, and a program's row shows only what
// its kind measures.
func TestReport(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	fn := &program{name: "fn", kind: lambdaFunction, size: 6_500_000, starts: []start{
		{init: ms(10), first: ms(12), cpu: ms(20), faults: 900}, {init: ms(11), first: ms(14), cpu: ms(21), faults: 1000},
		{init: ms(30), first: ms(40), cpu: ms(22), faults: 800},
	}}
	proc := &program{name: "proc", kind: process, size: 3_000_000, starts: []start{
		{first: ms(5), toMain: ms(4), inMain: ms(0.5), exit: ms(6), cpu: ms(3), faults: 300},
		{first: ms(7), toMain: ms(5), inMain: ms(0.75), exit: ms(8), cpu: ms(3), faults: 310},
		{first: ms(6), toMain: ms(4.5), inMain: ms(0.25), exit: ms(7), cpu: ms(3), faults: 290},
	}}
	bare := &program{name: "bare", kind: process, size: 1_600_000, starts: []start{
		{first: ms(4), toMain: ms(3.5), inMain: ms(0.01), exit: ms(5), cpu: ms(1), faults: 200},
	}}
	var out strings.Builder
	if err := report(&out, []*program{fn, proc, bare}); err != nil {
		t.Fatal(err)
	}
	rows := table(t, out.String())
	for name, want := range map[string][]string{
		"fn":   {"fn", "6.50", "11.00", "30.00", "14.00", "40.00", "10.00", "-", "-", "-", "21.00", "900"},
		"proc": {"proc", "3.00", "-", "-", "6.00", "7.00", "2.00", "4.50", "0.50", "7.00", "3.00", "300"},
		"bare": {"bare", "1.60", "-", "-", "4.00", "4.00", "0.00", "3.50", "0.01", "5.00", "1.00", "200"},
	} {
		if got := rows[name]; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("row %s: %q, want %q", name, got, want)
		}
	}
}

// table returns the rows of the table that run and report write, by the
// program's name, each the cells of its row.
func table(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	header := -1
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasSuffix(line, "|") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header < 0 {
			header = len(cells)
			continue
		}
		if len(cells) != header {
			t.Fatalf("%d cells in %q, %d in the header", len(cells), line, header)
		}
		rows[cells[0]] = cells
	}
	if header != 12 {
		t.Fatalf("the table has %d columns, want 12:\n%s", header, out)
	}
	return rows
}
