package store

import (
	"strings"
)

// FailureClass is the kind of a delivery failure, from an SMTP reply during
// sending or from a bounce that arrived later. The IT liaison's digest groups
// by it; whether a failure is hard follows from the class and the status.
type FailureClass string

const (
	ClassUserUnknown     FailureClass = "user_unknown"      // the address does not exist
	ClassMailboxFull     FailureClass = "mailbox_full"      // over quota
	ClassMailboxDisabled FailureClass = "mailbox_disabled"  // locked, suspended, disabled
	ClassHostUnknown     FailureClass = "host_unknown"      // the domain or server does not exist or accept mail
	ClassMessageTooLarge FailureClass = "message_too_large" // over the receiver's size limit
	ClassSenderRejected  FailureClass = "sender_rejected"   // our server or domain is refused: SPF, DKIM, DMARC, PTR, reputation, relaying, TLS/auth required
	ClassContentRejected FailureClass = "content_rejected"  // spam, virus, policy or content filters
	ClassThrottled       FailureClass = "throttled"         // rate limits, too many connections
	ClassExpired         FailureClass = "expired"           // the mail system gave up after retrying
	ClassRemoteError     FailureClass = "remote_error"      // the receiving system failed
	ClassOther           FailureClass = "other"
)

// FailureClasses lists every class, in the order digests show them.
var FailureClasses = []FailureClass{
	ClassUserUnknown, ClassHostUnknown, ClassMailboxDisabled, ClassMailboxFull,
	ClassMessageTooLarge, ClassSenderRejected, ClassContentRejected,
	ClassThrottled, ClassExpired, ClassRemoteError, ClassOther,
}

// ClassifyFailure names a failure from the SMTP reply code, the enhanced
// status code ("5.1.1", may be empty) and the server's text.
func ClassifyFailure(code int, status, text string) FailureClass {
	switch {
	case strings.HasPrefix(status, "5.1.1"), strings.HasPrefix(status, "5.1.0"), strings.HasPrefix(status, "5.1.10"):
		return ClassUserUnknown
	case strings.HasPrefix(status, "5.1.2"):
		return ClassHostUnknown
	case strings.HasPrefix(status, "5.2.2"), strings.HasPrefix(status, "4.2.2"):
		return ClassMailboxFull
	case strings.HasPrefix(status, "5.2.1"):
		return ClassMailboxDisabled
	case strings.HasPrefix(status, "5.3.4"), strings.HasPrefix(status, "5.2.3"):
		return ClassMessageTooLarge
	case strings.HasPrefix(status, "5.7."):
		if strings.Contains(strings.ToLower(text), "spam") {
			return ClassContentRejected
		}
		return ClassSenderRejected
	case strings.HasPrefix(status, "4.4.7"), strings.HasPrefix(status, "5.4.7"):
		return ClassExpired
	}
	return ClassOther
}

// Hard reports whether a failure of this class with this status means the
// address will not work without a person fixing something: the member is
// marked "address failed" and not retried.
func (c FailureClass) Hard(status string) bool {
	if strings.HasPrefix(status, "4.") {
		return false
	}
	switch c {
	case ClassUserUnknown, ClassHostUnknown, ClassMailboxDisabled:
		return true
	}
	return false
}

// Explain says in Vietnamese what the failure means and what to do about it,
// for the IT liaison's digest and `phieu inspect`.
func (c FailureClass) Explain() (meaning, action string) {
	if e, ok := failureExplanations[c]; ok {
		return e[0], e[1]
	}
	return failureExplanations[ClassOther][0], failureExplanations[ClassOther][1]
}

// Label is the class's short Vietnamese name.
func (c FailureClass) Label() string {
	if l, ok := failureLabels[c]; ok {
		return l
	}
	return failureLabels[ClassOther]
}

var failureLabels = map[FailureClass]string{
	ClassUserUnknown:     "hộp thư không tồn tại",
	ClassMailboxFull:     "hộp thư đầy",
	ClassMailboxDisabled: "hộp thư bị khóa",
	ClassHostUnknown:     "tên miền hoặc máy chủ nhận không tồn tại",
	ClassMessageTooLarge: "thư quá lớn",
	ClassSenderRejected:  "máy chủ nhận từ chối máy chủ gửi",
	ClassContentRejected: "nội dung thư bị bộ lọc chặn",
	ClassThrottled:       "bị giới hạn tốc độ gửi",
	ClassExpired:         "hết thời gian thử gửi lại",
	ClassRemoteError:     "lỗi ở hệ thống nhận",
	ClassOther:           "lỗi khác",
}

var failureExplanations = map[FailureClass][2]string{
	ClassUserUnknown: {"Địa chỉ hộp thư không tồn tại trên máy chủ nhận.",
		"Kiểm tra lại địa chỉ trong danh sách; cán bộ có thể đã nghỉ hưu, chuyển công tác hoặc đổi hộp thư. Sửa địa chỉ rồi nhập lại danh sách."},
	ClassMailboxFull: {"Hộp thư của người nhận đã đầy.",
		"Đề nghị người nhận xóa bớt thư; phieu sẽ tự gửi lại thư mời sau một thời gian."},
	ClassMailboxDisabled: {"Hộp thư bị khóa, tạm ngừng hoặc vô hiệu hóa.",
		"Đề nghị quản trị hệ thống thư công vụ mở lại tài khoản, hoặc cập nhật hộp thư mới của cán bộ."},
	ClassHostUnknown: {"Tên miền hoặc máy chủ nhận không tồn tại, hoặc không nhận thư.",
		"Kiểm tra phần sau dấu @ của địa chỉ và bản ghi MX/DNS của tên miền."},
	ClassMessageTooLarge: {"Thư vượt quá kích thước máy chủ nhận cho phép.",
		"Giảm kích thước thư (bỏ tệp đính kèm) hoặc đề nghị máy chủ nhận nâng giới hạn."},
	ClassSenderRejected: {"Máy chủ nhận từ chối máy chủ hoặc tên miền gửi (SPF, DKIM, DMARC, PTR, danh sách chặn, chuyển tiếp, yêu cầu TLS/xác thực).",
		"Cán bộ kỹ thuật kiểm tra bản ghi SPF/DKIM/DMARC, PTR, danh sách chặn của máy chủ thư công vụ và cấu hình TLS, xác thực."},
	ClassContentRejected: {"Bộ lọc thư rác, virus hoặc chính sách nội dung của máy chủ nhận đã chặn thư.",
		"Đề nghị máy chủ nhận đưa địa chỉ gửi khảo sát vào danh sách cho phép; kiểm tra nội dung và liên kết trong thư."},
	ClassThrottled: {"Máy chủ nhận giới hạn tốc độ hoặc số kết nối.",
		"Giảm tốc độ gửi (per_minute, per_hour); phieu sẽ tự gửi lại."},
	ClassExpired: {"Hệ thống thư đã thử gửi nhiều lần trong nhiều ngày rồi bỏ cuộc.",
		"Kiểm tra máy chủ nhận có hoạt động và kết nối được không; gửi lại khi đã khắc phục."},
	ClassRemoteError: {"Hệ thống nhận gặp lỗi (mạng, máy chủ, ổ đĩa).",
		"Thường tự khắc phục; nếu lặp lại, liên hệ quản trị máy chủ nhận."},
	ClassOther: {"Lỗi chưa phân loại được.",
		"Xem nội dung lỗi máy chủ trả về bên dưới."},
}
