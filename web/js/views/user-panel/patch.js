// What an edit sends: the fields that changed, with the attributes as an
// RFC 7396 merge patch. Pure functions, no DOM.

export const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function deepEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b) ||
    (isObject(a) && isObject(b) && Object.keys(a).length === Object.keys(b).length &&
      Object.keys(a).every((k) => k in b && deepEqual(a[k], b[k])));
}

/** The RFC 7396 merge patch that turns `a` into `b` (both objects). */
function mergeDiff(a, b) {
  const out = {};
  for (const k of Object.keys(a)) if (!(k in b)) out[k] = null;
  for (const [k, v] of Object.entries(b)) {
    if (!(k in a)) out[k] = v;
    else if (!deepEqual(a[k], v)) out[k] = isObject(a[k]) && isObject(v) ? mergeDiff(a[k], v) : v;
  }
  return out;
}

/**
 * The PATCH body that turns user `cur` into the form's values `v` (see
 * readForm); empty when nothing changed.
 */
export function patchFor(cur, v) {
  const patch = {};
  if (v.name !== (cur.name ?? null)) patch.name = v.name;
  if (v.email !== cur.email) patch.email = v.email;
  if (v.username !== (cur.username ?? null)) patch.username = v.username;
  if ([...v.roles].sort().join() !== [...(cur.roles || [])].sort().join()) patch.roles = v.roles;
  if (v.status !== cur.status) patch.status = v.status;
  if (v.email_verified !== !!cur.email_verified) patch.email_verified = v.email_verified;
  const attrPatch = mergeDiff(cur.attributes || {}, v.attributes.value);
  if (Object.keys(attrPatch).length) patch.attributes = attrPatch;
  return patch;
}
