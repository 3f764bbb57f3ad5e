// The web UI's files (app/web/), embedded in the binary at build time by embed_assets.cmake:
// nothing is read from disk or fetched at run time.
#ifndef ALLIANCE_APP_APP_ASSETS_H_
#define ALLIANCE_APP_APP_ASSETS_H_

#include <cstddef>

namespace alliance::app {

struct Asset {
  const char* path;          // "/index.html", "/js/main.js"
  const char* content_type;  // "text/html; charset=utf-8"
  const unsigned char* data;
  size_t size;
};

extern const Asset kAssets[];
extern const size_t kAssetCount;

}  // namespace alliance::app

#endif  // ALLIANCE_APP_APP_ASSETS_H_
