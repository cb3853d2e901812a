// A tiny Alchemy app whose resources are all local: a file it writes and a
// "site" whose URL is made up from the stage. It needs no cloud account, so
// alchemy-ci can deploy and destroy it anywhere.
import alchemy, { Resource } from "alchemy";
import { File } from "alchemy/fs";

// Custom resources must be defined before `await alchemy(...)`.
export const Site = Resource(
  "example::Site",
  async function (this: any, id: string, props: { stage: string }) {
    if (this.phase === "delete") {
      return this.destroy();
    }
    return { url: `https://${props.stage}.preview.example.test/` };
  },
);

const app = await alchemy("alchemy-ci-example");

export const page = await File("page", {
  path: `out/${app.stage}/index.html`,
  content: `<h1>Preview ${app.stage}</h1>\n`,
});
export const site = await Site("site", { stage: app.stage });

console.log(`Deployed ${app.stage}: ${site.url}`);

await app.finalize();
