// The API client: the same /api/v1 every other client uses, with the signed-in caller's headers.
// The API sits beside the console: /console -> /api/v1/ (and /<stage>/console -> /<stage>/api/v1/).

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details ?? null;
  }
}

export function apiBase(href = location.href) {
  return new URL("api/v1/", href);
}

export function createApi(auth, onUnauthenticated) {
  const base = apiBase();

  async function call(method, path, body) {
    const headers = { Accept: "application/json", ...auth.headers() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(new URL(path.replace(/^\//, ""), base), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { error: { code: "bad_response", message: text.slice(0, 200) } };
    }
    if (!response.ok) {
      if (response.status === 401) onUnauthenticated();
      throw new ApiError(response.status, data);
    }
    return data;
  }

  return {
    get: (path) => call("GET", path),
    post: (path, body = {}) => call("POST", path, body),
    put: (path, body) => call("PUT", path, body),
  };
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
