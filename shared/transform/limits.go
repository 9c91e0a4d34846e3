package transform

import (
	"unicode/utf8"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// batchBudget is the most JSON bytes a batch may take: under the API's 128 KB per batch with
// room to spare for the bulk request's framing.
const batchBudget = mparticle.MaxBatchBytes - 1024

// skeletonBytes bounds everything in a batch's JSON that is not a string this package measures:
// field names, punctuation and numbers of the fixed structure (about 900 bytes when every field
// is set; a test holds the estimate above the real size).
const skeletonBytes = 1536

// squeezedValueLen is what descriptive values are cut to when they alone would overflow a
// batch (only possible with values near the 4,096-character limit): identities and the user
// state lists matter more to mParticle than long descriptive text.
const squeezedValueLen = 256

// Characters are counted as UTF-16 code units (a rune above U+FFFF counts 2): the stricter of
// the possible readings of the API's "characters", so a value never exceeds it.
func truncUnits(s string, n int) string {
	if len(s) <= n { // a UTF-8 string never has more UTF-16 units than bytes
		return s
	}
	units := 0
	for i, r := range s {
		w := 1
		if r > 0xFFFF {
			w = 2
		}
		if units+w > n {
			return s[:i]
		}
		units += w
	}
	return s
}

// truncValue cuts a value of input field f to the API's value limit, recording f when it cuts.
// Small enough to inline: nearly every value is short enough to need no look.
func truncValue(f event.Field, s string, deg *event.Degraded) string {
	if len(s) <= mparticle.MaxValueLen {
		return s
	}
	return truncLongValue(f, s, deg)
}

func truncLongValue(f event.Field, s string, deg *event.Degraded) string {
	t := truncUnits(s, mparticle.MaxValueLen)
	if len(t) != len(s) {
		deg.Add(f)
	}
	return t
}

// userList applies the API's user attribute list limits to input field f: at most 1,000
// entries of at most 512 characters. It returns the input's own slice when nothing needs
// cutting.
func userList(f event.Field, list []string, deg *event.Degraded) []string {
	if len(list) == 0 {
		return []string{} // sent as [], never null; a zero-length slice does not allocate
	}
	if len(list) > mparticle.MaxUserAttrListLen {
		list = list[:mparticle.MaxUserAttrListLen]
		deg.Add(f)
	}
	for i, v := range list {
		if len(v) > mparticle.MaxUserAttrListValue {
			out := make([]string, len(list))
			copy(out, list[:i])
			for j := i; j < len(list); j++ {
				if out[j] = truncUnits(list[j], mparticle.MaxUserAttrListValue); len(out[j]) != len(list[j]) {
					deg.Add(f)
				}
			}
			return out
		}
	}
	return list
}

// jsonLen is the length of s as the mParticle client writes it (as encoding/json does, HTML
// escaping on), quotes included.
func jsonLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += len("\uFFFD") // the client writes the replacement character itself
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// sizer adds up string lengths for batchSize: exactly as the client writes them (jsonLen), or
// bounded without reading them (no byte expands past 6), which is enough for every real batch.
// A method rather than a func value, so that the coarse count compiles inline.
type sizer struct {
	exact bool
	n     int
}

func (z *sizer) str(s string) {
	if z.exact {
		z.n += jsonLen(s)
	} else {
		z.n += 6*len(s) + 2
	}
}

// batchSize bounds the JSON size of b from above, counting strings exactly or coarsely (see
// sizer). Lists in user attributes are counted unless skipLists.
func batchSize(b *mparticle.Batch, exact, skipLists bool) int {
	z := sizer{exact: exact, n: skeletonBytes}
	z.str(b.Environment)
	z.str(b.SourceRequestID)
	z.str(b.IP)
	for i := range b.Events {
		d := &b.Events[i].Data
		z.n += 64
		z.str(d.SourceMessageID)
		z.str(d.EventName)
		z.str(d.CustomEventType)
		z.str(d.CurrencyCode)
		for _, a := range d.CustomAttributes {
			z.str(a.Key)
			z.str(a.Value)
			z.n += 2
		}
		if pa := d.ProductAction; pa != nil {
			z.str(pa.Action)
			z.str(pa.TransactionID)
			for _, p := range pa.Products {
				z.n += 128
				z.str(p.ID)
				z.str(p.Name)
			}
		}
	}
	if u := b.UserIdentities; u != nil {
		z.str(u.CustomerID)
		z.str(u.Email)
		z.str(u.Other)
	}
	for _, a := range b.PartnerIdentities {
		z.str(a.Key)
		z.str(a.Value)
		z.n += 2
	}
	for _, a := range b.UserAttributes {
		z.str(a.Key)
		z.n += 2
		if a.List == nil {
			z.str(a.Value)
			continue
		}
		z.n += 2
		if !skipLists {
			for _, e := range a.List {
				z.str(e)
				z.n++
			}
		}
	}
	if d := b.DeviceInfo; d != nil {
		z.str(d.Platform)
		z.str(d.IOSIDFV)
		z.str(d.IOSAdvertisingID)
		z.str(d.AndroidAdvertisingID)
		z.str(d.AndroidUUID)
		z.str(d.OSVersion)
		z.str(d.DeviceModel)
		z.str(d.LocaleLanguage)
		z.str(d.LocaleCountry)
	}
	if a := b.ApplicationInfo; a != nil {
		z.str(a.ApplicationVersion)
		z.str(a.OS)
	}
	return z.n
}

// coarseSize is batchSize(b, false, false), its strings' lengths added up first and scaled
// once: the check every batch takes.
func coarseSize(b *mparticle.Batch) int {
	// n: bytes of the strings; k: strings (each adds 2, its quotes); fixed: the rest.
	n := len(b.Environment) + len(b.SourceRequestID) + len(b.IP)
	k := 3
	fixed := skeletonBytes
	for i := range b.Events {
		d := &b.Events[i].Data
		fixed += 64
		n += len(d.SourceMessageID) + len(d.EventName) + len(d.CustomEventType) + len(d.CurrencyCode)
		k += 4
		for _, a := range d.CustomAttributes {
			n += len(a.Key) + len(a.Value)
		}
		k += 2 * len(d.CustomAttributes)
		fixed += 2 * len(d.CustomAttributes)
		if pa := d.ProductAction; pa != nil {
			n += len(pa.Action) + len(pa.TransactionID)
			k += 2
			for _, p := range pa.Products {
				n += len(p.ID) + len(p.Name)
			}
			k += 2 * len(pa.Products)
			fixed += 128 * len(pa.Products)
		}
	}
	if u := b.UserIdentities; u != nil {
		n += len(u.CustomerID) + len(u.Email) + len(u.Other)
		k += 3
	}
	for _, a := range b.PartnerIdentities {
		n += len(a.Key) + len(a.Value)
	}
	k += 2 * len(b.PartnerIdentities)
	fixed += 2 * len(b.PartnerIdentities)
	for _, a := range b.UserAttributes {
		n += len(a.Key)
		k++
		fixed += 2
		if a.List == nil {
			n += len(a.Value)
			k++
			continue
		}
		fixed += 2 + len(a.List)
		k += len(a.List)
		for _, e := range a.List {
			n += len(e)
		}
	}
	if d := b.DeviceInfo; d != nil {
		n += len(d.Platform) + len(d.IOSIDFV) + len(d.IOSAdvertisingID) + len(d.AndroidAdvertisingID) +
			len(d.AndroidUUID) + len(d.OSVersion) + len(d.DeviceModel) + len(d.LocaleLanguage) + len(d.LocaleCountry)
		k += 9
	}
	if a := b.ApplicationInfo; a != nil {
		n += len(a.ApplicationVersion) + len(a.OS)
		k += 2
	}
	return fixed + 6*n + 2*k
}

// fitBatch keeps b under batchBudget and reports whether it had to cut anything. Real batches
// are a few KB and leave at the first, allocation-free check. Otherwise descriptive values are
// shortened first, then the user state lists are cut to what fits, each keeping a prefix and
// the space shared round-robin so no list is emptied for another's sake.
func fitBatch(b *mparticle.Batch) bool {
	if coarseSize(b) <= batchBudget || batchSize(b, true, false) <= batchBudget {
		return false
	}
	if batchSize(b, true, true) > batchBudget {
		squeezeValues(b)
	}
	cutLists(b, batchBudget-batchSize(b, true, true))
	return true
}

// squeezeValues shortens the free-text values this package sets. All of them are ours to
// modify: ToBatch built these attributes and structs for this batch.
func squeezeValues(b *mparticle.Batch) {
	for i := range b.Events {
		d := &b.Events[i].Data
		for j := range d.CustomAttributes {
			d.CustomAttributes[j].Value = truncUnits(d.CustomAttributes[j].Value, squeezedValueLen)
		}
		if pa := d.ProductAction; pa != nil {
			pa.TransactionID = truncUnits(pa.TransactionID, squeezedValueLen)
			for j := range pa.Products {
				pa.Products[j].ID = truncUnits(pa.Products[j].ID, squeezedValueLen)
				pa.Products[j].Name = truncUnits(pa.Products[j].Name, squeezedValueLen)
			}
		}
	}
	if d := b.DeviceInfo; d != nil {
		d.OSVersion = truncUnits(d.OSVersion, squeezedValueLen)
		d.DeviceModel = truncUnits(d.DeviceModel, squeezedValueLen)
		d.AndroidUUID = truncUnits(d.AndroidUUID, squeezedValueLen)
	}
	if a := b.ApplicationInfo; a != nil {
		a.ApplicationVersion = truncUnits(a.ApplicationVersion, squeezedValueLen)
	}
}

// cutLists keeps, of each user attribute list, the longest prefixes whose entries fit in
// budget bytes, taking entries round-robin across the lists.
func cutLists(b *mparticle.Batch, budget int) {
	var kept [len(userAttrKeys)]int
	for i := 0; ; i++ {
		progress := false
		for j := range b.UserAttributes {
			l := b.UserAttributes[j].List
			if kept[j] != i || i >= len(l) {
				continue
			}
			if c := jsonLen(l[i]) + 1; c <= budget {
				budget -= c
				kept[j]++
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	for j := range b.UserAttributes {
		if l := b.UserAttributes[j].List; l != nil {
			b.UserAttributes[j].List = l[:kept[j]:kept[j]]
		}
	}
}
