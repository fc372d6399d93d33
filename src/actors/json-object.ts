// Text that must hold one JSON object: a replicated command of the catalog or order group (checked when it is
// decoded from the log), or an admin request body at the gateway.
//
// Promises: `fields` is a plain object (never an array or null); when the text is not one, `detail` is the
// caller's own sentence for which way it is not: not JSON at all, or JSON of another kind.
// Needs: nothing; pure.

/** How a replicated command says what it is not (decodeCatalogCommand, decodeOrderCommand). */
export const commandObjectProblems = { notJson: 'not JSON', notObject: 'not a JSON object' } as const;

export type JsonObject = { readonly ok: true; readonly fields: Record<string, unknown> } | { readonly ok: false; readonly detail: string };

export function parseJsonObject(text: string, problems: { readonly notJson: string; readonly notObject: string }): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, detail: problems.notJson };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, detail: problems.notObject };
  return { ok: true, fields: parsed as Record<string, unknown> };
}
