// The web app of the monorepo example: a local "site" that is built
// against the API's URL, which alchemy-ci passes as API_URL (`from-app`
// in alchemy-ci.yml).
import alchemy, { Resource } from "alchemy";
import { File } from "alchemy/fs";

export const Site = Resource(
  "example::Site",
  async function (this: any, id: string, props: { stage: string; api: string }) {
    if (this.phase === "delete") {
      return this.destroy();
    }
    return { url: `https://${props.stage}.web.example.test/`, api: props.api };
  },
);

const apiUrl = process.env.API_URL;
if (!apiUrl) {
  throw new Error("API_URL is not set: deploy the api app first");
}

const app = await alchemy("monorepo-web");

await File("config", {
  path: `out/${app.stage}/config.json`,
  content: JSON.stringify({ api: apiUrl }),
});
export const site = await Site("site", { stage: app.stage, api: apiUrl });

console.log(`Web ${app.stage}: ${site.url} (API ${apiUrl})`);

await app.finalize();
