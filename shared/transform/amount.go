package transform

import (
	"math/big"
	"math/bits"
	"strconv"
	"strings"

	"github.com/namiml/mparticle-bridge/shared/event"
)

// minorUnits is the ISO 4217 number of decimals of a currency: the exceptions to the usual 2.
func minorUnits(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	case "CLF", "UYW":
		return 4
	}
	return 2
}

// splitPrice converts a contract price string to the API's JSON number (the float nearest
// the decimal, as strconv gives it, which encoding/json prints back as the same short
// decimal), and returns the price's integer and fraction digits for totalUnits (the fraction
// without trailing zeros). ok is event.IsDecimal(s), checked in the same pass.
func splitPrice(s string) (f float64, intPart, frac string, ok bool) {
	// The digits as one integer (meaningful up to 19 of them, the most the fast path
	// below takes), and where the point is.
	var mant uint64
	dot := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c-'0' < 10:
			mant = mant*10 + uint64(c-'0')
		case c == '.' && dot < 0:
			dot = i
		default:
			return 0, "", "", false
		}
	}
	intPart, frac = s, ""
	if dot >= 0 {
		intPart, frac = s[:dot], s[dot+1:]
	}
	if len(intPart) == 0 || len(intPart) > event.MaxPriceIntDigits || (dot >= 0 && len(frac) == 0) ||
		len(frac) > event.MaxPriceFracDigits {
		return 0, "", "", false
	}
	// Both operands exact (under 2^53, and 10^d for d ≤ 22), so IEEE division gives the float
	// nearest the decimal: strconv.ParseFloat's answer, as its own fast path does.
	if len(intPart)+len(frac) <= 19 && mant < 1<<53 && len(frac) < len(pow10f) {
		f = float64(mant) / pow10f[len(frac)]
	} else {
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, "", "", false
		}
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	return f, intPart, frac, true
}

var pow10f = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// totalAmount is price × qty rounded half up to minor decimals, computed exactly in decimal
// (9.99 × 3 is 29.97, not float64's 29.969999999999995). price must satisfy event.IsDecimal.
func totalAmount(price string, qty, minor int) float64 {
	intPart, frac, _ := strings.Cut(price, ".")
	return totalOf(intPart, strings.TrimRight(frac, "0"), qty, minor)
}

// totalOf is totalAmount of the price split as splitPrice splits it.
func totalOf(intPart, frac string, qty, minor int) float64 {
	if units, ok := totalUnits(intPart, frac, uint64(qty), minor); ok {
		return unitsToFloat(units, minor)
	}
	return totalBig(intPart, frac, qty, minor)
}

// totalUnits computes the total in minor units with 128-bit intermediate arithmetic; ok is
// false when a value does not fit (then the big.Int path takes over).
func totalUnits(intPart, frac string, qty uint64, minor int) (uint64, bool) {
	if len(intPart)+len(frac) > 19 {
		return 0, false
	}
	// At most 19 digits: fits in a uint64 (< 1e19 < 2^64).
	var mant uint64
	for _, part := range [2]string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			mant = mant*10 + uint64(part[i]-'0')
		}
	}
	hi, lo := bits.Mul64(mant, qty)
	if len(frac) <= minor {
		// Exact: scale up to minor units.
		if hi != 0 {
			return 0, false
		}
		hi, lo = bits.Mul64(lo, pow10[minor-len(frac)])
		return lo, hi == 0
	}
	d := pow10[len(frac)-minor]
	if hi >= d {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, d)
	if r >= d-r { // r*2 >= d without overflow: round half up
		if q == ^uint64(0) {
			return 0, false
		}
		q++
	}
	return q, true
}

// unitsToFloat divides exactly representable integers, which IEEE 754 rounds correctly, so the
// result is the float nearest the decimal total; beyond 2^53 strconv does the same.
func unitsToFloat(units uint64, minor int) float64 {
	if units < 1<<53 {
		return float64(units) / float64(pow10[minor])
	}
	f, _ := strconv.ParseFloat(formatUnits(new(big.Int).SetUint64(units), minor), 64)
	return f
}

func totalBig(intPart, frac string, qty, minor int) float64 {
	mant, _ := new(big.Int).SetString(intPart+frac, 10)
	mant.Mul(mant, big.NewInt(int64(qty)))
	if len(frac) <= minor {
		mant.Mul(mant, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(minor-len(frac))), nil))
	} else {
		d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac)-minor)), nil)
		r := new(big.Int)
		mant.QuoRem(mant, d, r)
		if r.Lsh(r, 1).Cmp(d) >= 0 {
			mant.Add(mant, big.NewInt(1))
		}
	}
	f, _ := strconv.ParseFloat(formatUnits(mant, minor), 64)
	return f
}

// formatUnits renders a non-negative integer count of minor units as a decimal string.
func formatUnits(units *big.Int, minor int) string {
	s := units.String()
	if minor == 0 {
		return s
	}
	if len(s) <= minor {
		s = strings.Repeat("0", minor-len(s)+1) + s
	}
	return s[:len(s)-minor] + "." + s[len(s)-minor:]
}
