/**
 * The one way this extension talks to its server extension: URLs built from the server
 * connection settings (base URL from PageConfig), authenticated like every JupyterLab request.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Path of the REST API below the server's base URL. */
export const API_PATH = 'jupyter-tracker/api';

/** Query string values; empty, null and undefined values are left out. */
export type Query = Record<string, string | number | boolean | null | undefined>;

/**
 * An error answered by the server extension: `message` is the server's own explanation
 * (e.g. the position of a mistake in a filter), `status` the HTTP status.
 */
export class TrackerAPIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errorType: string
  ) {
    super(message);
    this.name = 'TrackerAPIError';
  }
}

/** The URL of an API endpoint: each path part is encoded segment by segment. */
export function apiUrl(parts: string[], query: Query = {}): string {
  const settings = ServerConnection.makeSettings();
  const path = URLExt.join(settings.baseUrl, API_PATH, ...parts.map(part => URLExt.encodeParts(part)));
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') {
      kept[key] = String(value);
    }
  }
  return path + URLExt.objectToQueryString(kept);
}

/**
 * Call the REST API and parse its JSON answer (or return the text for non-JSON answers when
 * `asText` is set). Failures become a `TrackerAPIError` carrying the server's message.
 */
export async function requestAPI<T>(
  parts: string[],
  query: Query = {},
  init: RequestInit = {},
  asText = false
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = apiUrl(parts, query);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  if (!response.ok) {
    let message = response.statusText || `HTTP ${response.status}`;
    let errorType = 'HTTPError';
    try {
      const body = JSON.parse(text) as { message?: string; error?: string };
      message = body.message ?? message;
      errorType = body.error ?? errorType;
    } catch {
      // not JSON (e.g. a proxy's error page): keep the status text
    }
    throw new TrackerAPIError(message, response.status, errorType);
  }
  if (asText) {
    return text as T;
  }
  return (text ? JSON.parse(text) : null) as T;
}
