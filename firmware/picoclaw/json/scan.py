# The byte-level JSON scanner: one resumable state machine, no allocation, viper on the board.
#
# This is the parser's hot loop, kept apart so the rest of json/stream.py stays plain Python.
# Measured on the unix port (x86-64, 26 KB getUpdates body): a pure-Python byte loop with
# a minimal state machine runs at ~7 MB/s, json.loads at ~17 MB/s, the same loop under
# viper at ~300 MB/s. So the scanner is a viper function; CPython runs the same source as
# plain Python (the host shim makes `micropython.viper` an identity and `ptr8`/`ptr32` names).
# Rules the source follows so both runtimes agree: only ints, `int()` casts on every
# pointer load, no `and`/`or` on non-bools, no calls except to the viper helper below.
#
# All state lives in `st` (an array('i')), the container stack in `stack` (a bytearray),
# so scanning can stop at any byte (end of window, output full) and resume exactly there:
# the result never depends on where the input is split.
import micropython
from micropython import const

# st[] slots
_POS = const(0)  # next byte to read in buf
_END = const(1)  # end of the current window in buf
_STATE = const(2)
_DEPTH = const(3)
_OLEN = const(4)  # bytes of the current string/number in out
_OCAP = const(5)  # copy limit for the current token (<= len(out))
_MODE = const(6)  # current token: 0 discard, 1 stream in parts, 2 truncate at _OCAP
_SKIP = const(7)  # 0, or 1 + the depth at which a value being skipped ends (ptr32 loads
#                   are unsigned under viper, so every slot holds a value >= 0)
_ACC = const(8)  # \uXXXX accumulator
_NHEX = const(9)  # hex digits seen in \uXXXX
_HI = const(10)  # 0; 1 = a U+FFFD is owed; 0xD800-0xDBFF = high surrogate waiting for its pair
_FLAGS = const(11)  # bit0: current string is a key; bit1: current token was truncated
_MAXD = const(12)
_EOF = const(13)  # 1 once the source is exhausted
_UNEED = const(14)  # UTF-8 continuation bytes still expected
_ULO = const(15)  # allowed range of the next continuation byte
_UHI = const(16)
_USTART = const(17)  # out offset where the current UTF-8 sequence began
_KCAP = const(18)  # copy limit for keys (truncate mode)
_VMODE = const(19)  # mode for string values: 1 or 2
_VCAP = const(20)  # copy limit for string values
NSLOTS = const(21)

# scanner states
_S_VALUE = const(0)
_S_ARR_FIRST = const(1)
_S_OBJ_FIRST = const(2)
_S_KEY = const(3)
_S_COLON = const(4)
_S_AFTER = const(5)
_S_DONE = const(6)
_S_STR = const(7)
_S_ESC = const(8)
_S_U = const(9)
_N_MINUS = const(10)
_N_ZERO = const(11)
_N_INT = const(12)
_N_DOT = const(13)
_N_FRAC = const(14)
_N_E = const(15)
_N_ESIGN = const(16)
_N_EXP = const(17)
_L_T1 = const(18)  # t[r]ue
_L_T2 = const(19)
_L_T3 = const(20)
_L_F1 = const(21)  # f[a]lse
_L_F2 = const(22)
_L_F3 = const(23)
_L_F4 = const(24)
_L_N1 = const(25)  # n[u]ll
_L_N2 = const(26)
_L_N3 = const(27)

# events returned (errors are negative). The public ones are the parser's API: json/stream.py
# passes them on, and callers compare JsonReader.next()'s result with them. true, false and
# null stay private (JsonReader.value and read_bool turn them into Python values; a module
# that needs one keeps a private copy): a public name costs the echo start (docs/memory.md).
_NEED = const(0)  # window consumed: refill and call again
OBJ = const(1)
END_OBJ = const(2)
ARR = const(3)
END_ARR = const(4)
KEY = const(5)
STR = const(6)
NUM = const(7)
_E_TRUE = const(8)  # true
_E_FALSE = const(9)  # false
_E_NULL = const(10)  # null
_PART = const(11)  # out holds a piece of a string value (stream mode); more follows
_E_EOF = const(12)  # top-level value complete and input exhausted
_SKIPPED = const(13)  # the value being skipped is complete
_ERR_CHAR = const(-1)
_ERR_ESC = const(-2)
_ERR_CTRL = const(-3)
_ERR_DEPTH = const(-4)
_ERR_NUM = const(-5)
_ERR_END = const(-6)
_ERR_LIT = const(-7)


@micropython.viper
def _put_cp(obj, olen: int, cp: int) -> int:
    # UTF-8 encode code point cp at obj[olen]; returns the new length. Caller checked room.
    out = ptr8(obj)
    if cp < 0x80:
        out[olen] = cp
        return olen + 1
    if cp < 0x800:
        out[olen] = 0xC0 | (cp >> 6)
        out[olen + 1] = 0x80 | (cp & 0x3F)
        return olen + 2
    if cp < 0x10000:
        out[olen] = 0xE0 | (cp >> 12)
        out[olen + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[olen + 2] = 0x80 | (cp & 0x3F)
        return olen + 3
    out[olen] = 0xF0 | (cp >> 18)
    out[olen + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[olen + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[olen + 3] = 0x80 | (cp & 0x3F)
    return olen + 4


@micropython.viper
def scan(buf: ptr8, st: ptr32, obj, stack: ptr8) -> int:
    """Run the state machine over buf[st[_POS]:st[_END]] until an event; return the event.

    String and number bytes go to `out` (valid UTF-8: bad sequences become U+FFFD).
    """
    out = ptr8(obj)  # obj stays an object so it can be handed to _put_cp
    pos = int(st[_POS])
    end = int(st[_END])
    state = int(st[_STATE])
    depth = int(st[_DEPTH])
    olen = int(st[_OLEN])
    ocap = int(st[_OCAP])
    mode = int(st[_MODE])
    skip = int(st[_SKIP]) - 1  # -1: not skipping
    hi = int(st[_HI])
    flags = int(st[_FLAGS])
    uneed = int(st[_UNEED])
    eof = int(st[_EOF])
    ev = 0
    evp = 0  # event for a value that just completed
    vdone = 0
    while True:
        if pos < end:
            c = int(buf[pos])
        elif eof:
            c = -1
        else:
            ev = _NEED
            break
        if state == _S_STR:
            if c == 0x22 or c == 0x5C:  # closing quote or backslash
                if uneed:  # a UTF-8 sequence was cut short: replace it, then look again
                    olen = int(st[_USTART])
                    uneed = 0
                    hi = 1
                    continue
                if c == 0x5C:
                    state = _S_ESC
                    pos += 1
                    continue
                if hi:
                    if mode:
                        if olen + 3 > ocap:
                            if mode == 1:
                                ev = _PART
                                break
                            mode = 0
                            flags |= 2
                        else:
                            olen = int(_put_cp(obj, olen, 0xFFFD))
                    hi = 0
                pos += 1
                if flags & 1:
                    state = _S_COLON
                    if skip < 0:
                        ev = KEY
                        break
                    continue
                vdone = 1
                evp = STR
            elif c < 0x20:
                ev = _ERR_CTRL if c >= 0 else _ERR_END
                break
            elif mode == 0:
                pos += 1
                continue
            elif uneed:
                if c >= int(st[_ULO]) and c <= int(st[_UHI]):
                    out[olen] = c
                    olen += 1
                    uneed -= 1
                    st[_ULO] = 0x80
                    st[_UHI] = 0xBF
                    pos += 1
                else:  # broken sequence: replace what we have, re-read this byte
                    olen = int(st[_USTART])
                    uneed = 0
                    hi = 1
                continue
            else:
                if hi:  # a replacement character is owed before this one
                    if olen + 3 > ocap:
                        if mode == 1:
                            ev = _PART
                            break
                        mode = 0
                        flags |= 2
                        hi = 0
                        continue
                    olen = int(_put_cp(obj, olen, 0xFFFD))
                    hi = 0
                if c < 0x80:
                    n = 1
                elif c < 0xC2:
                    n = 0  # continuation byte or overlong lead: invalid
                elif c < 0xE0:
                    n = 2
                elif c < 0xF0:
                    n = 3
                elif c < 0xF5:
                    n = 4
                else:
                    n = 0
                if n == 0:
                    hi = 1
                    pos += 1
                    continue
                if olen + n > ocap:
                    if mode == 1:
                        ev = _PART
                        break
                    mode = 0
                    flags |= 2
                    continue
                if n > 1:
                    uneed = n - 1
                    st[_USTART] = olen
                    lo = 0x80
                    up = 0xBF
                    if c == 0xE0:
                        lo = 0xA0
                    elif c == 0xED:
                        up = 0x9F
                    elif c == 0xF0:
                        lo = 0x90
                    elif c == 0xF4:
                        up = 0x8F
                    st[_ULO] = lo
                    st[_UHI] = up
                out[olen] = c
                olen += 1
                pos += 1
                continue
        elif c == 0x20 or c == 0x0A or c == 0x0D or c == 0x09:
            if state <= _S_DONE:
                pos += 1
                continue
            if state >= _N_MINUS and state <= _N_EXP:
                vdone = 1  # whitespace ends a number; it is consumed in the next state
                evp = NUM
                if state == _N_MINUS or state == _N_DOT or state >= _N_E and state <= _N_ESIGN:
                    ev = _ERR_NUM
                    break
            elif state == _S_ESC or state == _S_U:
                ev = _ERR_ESC
                break
            else:
                ev = _ERR_LIT
                break
        elif state == _S_ESC:
            v = -1
            if c == 0x22 or c == 0x5C or c == 0x2F:
                v = c
            elif c == 0x62:
                v = 8
            elif c == 0x66:
                v = 12
            elif c == 0x6E:
                v = 10
            elif c == 0x72:
                v = 13
            elif c == 0x74:
                v = 9
            elif c == 0x75:
                state = _S_U
                st[_ACC] = 0
                st[_NHEX] = 0
                pos += 1
                continue
            else:
                ev = _ERR_ESC if c >= 0 else _ERR_END
                break
            if mode:
                if hi:
                    if olen + 3 > ocap:
                        if mode == 1:
                            ev = _PART
                            break
                        mode = 0
                        flags |= 2
                    else:
                        olen = int(_put_cp(obj, olen, 0xFFFD))
                    hi = 0
                if mode:
                    if olen + 1 > ocap:
                        if mode == 1:
                            ev = _PART
                            break
                        mode = 0
                        flags |= 2
                    else:
                        out[olen] = v
                        olen += 1
            state = _S_STR
            pos += 1
        elif state == _S_U:
            if c >= 0x30 and c <= 0x39:
                v = c - 0x30
            elif c >= 0x61 and c <= 0x66:
                v = c - 0x57
            elif c >= 0x41 and c <= 0x46:
                v = c - 0x37
            else:
                ev = _ERR_ESC if c >= 0 else _ERR_END
                break
            nhex = int(st[_NHEX])
            acc = (int(st[_ACC]) << 4) | v
            if nhex < 3:
                st[_ACC] = acc
                st[_NHEX] = nhex + 1
                pos += 1
                continue
            if mode:
                # the 4th digit: emit. On _PART nothing below has changed state, so the
                # same digit is read again on resume.
                if acc >= 0xDC00 and acc <= 0xDFFF and hi >= 0xD800:
                    if olen + 4 > ocap:
                        if mode == 1:
                            ev = _PART
                            break
                        mode = 0
                        flags |= 2
                    else:
                        olen = int(_put_cp(obj, olen, 0x10000 + ((hi - 0xD800) << 10) + (acc - 0xDC00)))
                    hi = 0
                else:
                    if hi:
                        if olen + 3 > ocap:
                            if mode == 1:
                                ev = _PART
                                break
                            mode = 0
                            flags |= 2
                        else:
                            olen = int(_put_cp(obj, olen, 0xFFFD))
                        hi = 0
                    if acc >= 0xD800 and acc <= 0xDBFF:
                        hi = acc
                    elif mode:
                        if acc >= 0xDC00 and acc <= 0xDFFF:
                            acc = 0xFFFD  # lone low surrogate
                        n = 1
                        if acc >= 0x800:
                            n = 3
                        elif acc >= 0x80:
                            n = 2
                        if olen + n > ocap:
                            if mode == 1:
                                ev = _PART
                                break
                            mode = 0
                            flags |= 2
                        else:
                            olen = int(_put_cp(obj, olen, acc))
            state = _S_STR
            pos += 1
        elif state >= _N_MINUS and state <= _N_EXP:
            if c >= 0x30 and c <= 0x39:
                if state == _N_MINUS:
                    state = _N_ZERO if c == 0x30 else _N_INT
                elif state == _N_ZERO:
                    ev = _ERR_NUM
                    break
                elif state == _N_DOT:
                    state = _N_FRAC
                elif state == _N_E or state == _N_ESIGN:
                    state = _N_EXP
            elif c == 0x2E and (state == _N_ZERO or state == _N_INT):
                state = _N_DOT
            elif (c == 0x65 or c == 0x45) and (state == _N_ZERO or state == _N_INT or state == _N_FRAC):
                state = _N_E
            elif (c == 0x2B or c == 0x2D) and state == _N_E:
                state = _N_ESIGN
            elif state == _N_ZERO or state == _N_INT or state == _N_FRAC or state == _N_EXP:
                vdone = 1  # any other byte ends the number; the next state judges it
                evp = NUM
            else:
                ev = _ERR_NUM if c >= 0 else _ERR_END
                break
            if not vdone:
                if mode:
                    if olen < ocap:
                        out[olen] = c
                        olen += 1
                    else:
                        flags |= 2
                pos += 1
        elif state >= _L_T1:
            want = 0x6C  # the letters of true, false, null after the first
            if state == _L_T1:
                want = 0x72
            elif state == _L_T2 or state == _L_N1:
                want = 0x75
            elif state == _L_T3 or state == _L_F4:
                want = 0x65
            elif state == _L_F1:
                want = 0x61
            elif state == _L_F3:
                want = 0x73
            if c != want:
                ev = _ERR_LIT if c >= 0 else _ERR_END
                break
            pos += 1
            if state == _L_T3:
                vdone = 1
                evp = _E_TRUE
            elif state == _L_F4:
                vdone = 1
                evp = _E_FALSE
            elif state == _L_N3:
                vdone = 1
                evp = _E_NULL
            else:
                state += 1
        elif state == _S_COLON:
            if c != 0x3A:
                ev = _ERR_CHAR if c >= 0 else _ERR_END
                break
            state = _S_VALUE
            pos += 1
        elif state == _S_AFTER:
            top = int(stack[depth - 1])
            if c == 0x2C:
                state = _S_KEY if top == 1 else _S_VALUE
                pos += 1
            elif c == 0x7D and top == 1:
                depth -= 1
                pos += 1
                vdone = 1
                evp = END_OBJ
            elif c == 0x5D and top == 2:
                depth -= 1
                pos += 1
                vdone = 1
                evp = END_ARR
            else:
                ev = _ERR_CHAR if c >= 0 else _ERR_END
                break
        elif state == _S_DONE:
            if c < 0:
                ev = _E_EOF
                break
            ev = _ERR_CHAR
            break
        elif state == _S_OBJ_FIRST or state == _S_KEY:
            if c == 0x22:
                state = _S_STR
                flags = 1
                olen = 0
                hi = 0
                uneed = 0
                mode = 0 if skip >= 0 else 2
                ocap = int(st[_KCAP])
                pos += 1
            elif c == 0x7D and state == _S_OBJ_FIRST:
                depth -= 1
                pos += 1
                vdone = 1
                evp = END_OBJ
            else:
                ev = _ERR_CHAR if c >= 0 else _ERR_END
                break
        else:  # _S_VALUE or _S_ARR_FIRST: a value starts here
            if c == 0x22:
                state = _S_STR
                flags = 0
                olen = 0
                hi = 0
                uneed = 0
                if skip >= 0:
                    mode = 0
                else:
                    mode = int(st[_VMODE])
                ocap = int(st[_VCAP])
                pos += 1
            elif c == 0x7B or c == 0x5B:
                if depth >= int(st[_MAXD]):
                    ev = _ERR_DEPTH
                    break
                if c == 0x7B:
                    stack[depth] = 1
                    state = _S_OBJ_FIRST
                    evp = OBJ
                else:
                    stack[depth] = 2
                    state = _S_ARR_FIRST
                    evp = ARR
                depth += 1
                pos += 1
                if skip < 0:
                    ev = evp
                    break
            elif c == 0x5D and state == _S_ARR_FIRST:
                depth -= 1
                pos += 1
                vdone = 1
                evp = END_ARR
            elif c == 0x2D or c >= 0x30 and c <= 0x39:
                state = _N_MINUS if c == 0x2D else (_N_ZERO if c == 0x30 else _N_INT)
                flags = 0
                mode = 0 if skip >= 0 else 2
                ocap = int(st[_KCAP])
                out[0] = c
                olen = 1
                pos += 1
            elif c == 0x74:
                state = _L_T1
                pos += 1
            elif c == 0x66:
                state = _L_F1
                pos += 1
            elif c == 0x6E:
                state = _L_N1
                pos += 1
            else:
                ev = _ERR_CHAR if c >= 0 else _ERR_END
                break
        if vdone:
            vdone = 0
            state = _S_AFTER if depth else _S_DONE
            if skip < 0:
                ev = evp
                break
            if depth == skip:
                skip = -1
                ev = _SKIPPED
                break
    st[_POS] = pos
    st[_STATE] = state
    st[_DEPTH] = depth
    st[_OLEN] = olen
    st[_OCAP] = ocap
    st[_MODE] = mode
    st[_SKIP] = skip + 1
    st[_HI] = hi
    st[_FLAGS] = flags
    st[_UNEED] = uneed
    return ev


_NOT_SMALL = const(0x3FFFFFFF)  # number(): "not an integer of at most 9 digits"


@micropython.viper
def number(obj, n: int) -> int:
    """The value of the number token in obj[:n] when it is an integer of at most 9 digits
    (an optional "-" first: ids, counts; it fits a 32-bit board's small int), else
    _NOT_SMALL (JsonReader.number then converts it). Allocation-free and without a Python
    loop per digit: four ids are read per update."""
    out = ptr8(obj)
    i = 0
    if n > 0:
        if int(out[0]) == 45:  # "-"
            i = 1
    if n - i < 1 or n - i > 9:
        return _NOT_SMALL
    v = 0
    k = i
    while k < n:
        c = int(out[k])
        if c < 48 or c > 57:
            return _NOT_SMALL
        v = v * 10 + c - 48
        k += 1
    if i:
        return 0 - v
    return v
