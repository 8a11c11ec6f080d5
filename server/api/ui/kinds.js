// The kind catalog (GET /v1/kinds), fetched once: jobd never changes it while it runs.
import { getJson } from './api.js';

let catalog = null;

export function loadKinds() {
  if (!catalog) {
    catalog = getJson('/v1/kinds').then(
      (body) => body.kinds,
      (error) => {
        catalog = null; // let the next view try again
        throw error;
      },
    );
  }
  return catalog;
}
