package vn_test

import (
	"bytes"
	"sort"
	"testing"

	"github.com/phieu/phieu/store/vn"
)

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Họ và tên":           "ho va ten",
		"HỌ VÀ TÊN":           "ho va ten",
		"  Đơn vị cấp trên ":  "don vi cap tren",
		"Thư điện tử (Email)": "thu dien tu email",
		"ho_va_ten":           "ho va ten",
		"Mã  cán\tbộ":         "ma can bo",
	} {
		if got := vn.Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeyOrdersVietnamese(t *testing.T) {
	want := []string{"Anh", "Ánh", "Bảo", "Dũng", "Đức", "Ơn", "Phúc", "Ưng", "Yến"}
	got := []string{"Yến", "Đức", "Ưng", "Bảo", "Ánh", "Phúc", "Dũng", "Ơn", "Anh"}
	sort.Slice(got, func(i, j int) bool { return bytes.Compare(vn.Key(got[i]), vn.Key(got[j])) < 0 })
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order = %v, want %v", got, want)
		}
	}
}

func TestCompareNames(t *testing.T) {
	// Same tên: họ decides; same họ: tên đệm decides.
	if vn.CompareNames("An", "Trần", "Văn", "An", "Nguyễn", "Văn") <= 0 {
		t.Error("Trần Văn An should sort after Nguyễn Văn An")
	}
	if vn.CompareNames("An", "Nguyễn", "Thị", "An", "Nguyễn", "Văn") >= 0 {
		t.Error("Nguyễn Thị An should sort before Nguyễn Văn An")
	}
	if vn.CompareNames("Ánh", "Lê", "", "Bảo", "Ân", "") >= 0 {
		t.Error("tên decides before họ")
	}
}
