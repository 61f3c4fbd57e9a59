/**
 * The API's static files (the dashboard's and Swagger UI's): each is read once, on its first
 * request, and kept in memory as a Blob that every answer shares.
 *
 * Not a Bun.file body: a `Range` on a file body is answered below the route (by Elysia when the
 * route returns the file, by Bun.serve itself from Bun 1.4 on), with a 206, or with an empty 416
 * for a range past the end of the file, which is not a JSON error like the API's others. An
 * in-memory body has no range handling, so a Range is ignored (RFC 9110 §14.2 allows it) and the
 * whole file is sent. Shared, a file costs its size once however many requests
 * read it at the same time (the largest, Swagger UI's bundle, is 1.7 MB).
 */

const files = new Map<string, Promise<Blob>>();

function load(path: string): Promise<Blob> {
  let blob = files.get(path);
  if (!blob) {
    const file = Bun.file(path);
    blob = file.bytes().then((bytes) => new Blob([bytes], { type: file.type }));
    blob.catch(() => files.delete(path)); // a failed read is tried again by the next request
    files.set(path, blob);
  }
  return blob;
}

/** The whole file at `path`; its content type is the file's unless `headers` names one. */
export async function staticFile(path: string, headers: Record<string, string>): Promise<Response> {
  return new Response(await load(path), { headers });
}
