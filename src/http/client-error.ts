// What the gateway answers to a request node:http's parser refuses (duplicate Content-Length, Content-Length with
// Transfer-Encoding, a bare LF, a header line it cannot read, headers past the size bound, a request timeout).
//
// Promises: such a client gets the contract's JSON error (`{"ok":false,"error":"…"}`) with the status node:http
// would have sent — 431 for headers too large, 408 for a request that did not arrive in time, 400 otherwise — and
// `Connection: close`, and the socket is closed: after a framing error nothing more on that connection can be
// trusted to be a request. A socket that cannot be written (reset, or with an answer under way) is destroyed.
// Needs: to be registered as the server's 'clientError' listener (which replaces node:http's own answer).
import type { Socket } from 'node:net';

interface ParserError extends Error {
  readonly code?: string;
}

/** Status and sentence for a parser error code; the sentence never echoes the client's bytes. */
export function describeClientError(code: string | undefined): { status: 400 | 408 | 431; text: string; error: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, text: 'Request Header Fields Too Large', error: 'request headers are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, text: 'Request Timeout', error: 'the request did not arrive in time' };
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return { status: 400, text: 'Bad Request', error: 'malformed HTTP request: Content-Length given twice, or with Transfer-Encoding' };
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return { status: 400, text: 'Bad Request', error: 'malformed HTTP request: invalid Transfer-Encoding' };
    case 'HPE_LF_EXPECTED':
    case 'HPE_CR_EXPECTED':
    case 'HPE_STRICT':
      return { status: 400, text: 'Bad Request', error: 'malformed HTTP request: lines must end with CRLF' };
    default:
      return { status: 400, text: 'Bad Request', error: `malformed HTTP request${code === undefined ? '' : ` (${code.slice(0, 40)})`}` };
  }
}

export function answerClientError(error: ParserError, socket: Socket): void {
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  // Bytes after a request that said Connection: close (a client writing a GET body without a length): that
  // request is still answered, and its answer closes the connection.
  if (error.code === 'HPE_CLOSED_CONNECTION' && inProgress !== undefined && inProgress !== null) return;
  // Nobody to answer: the peer reset, or a response on this socket has begun and a second would be garbage.
  if (error.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent === true) {
    socket.destroy();
    return;
  }
  const { status, text, error: sentence } = describeClientError(error.code);
  const body = JSON.stringify({ ok: false, error: sentence });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  // end() closes after the answer is flushed; destroySoon makes sure a socket that never drains is dropped too.
  socket.destroySoon();
}
