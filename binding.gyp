{
  "targets": [
    {
      "target_name": "cnm_netlink",
      "sources": [
        "native/addon.cc",
        "native/socket.cc",
        "native/netns.cc",
        "native/flock.cc",
        "native/fd_watch.cc",
        "native/error.cc",
        "native/parse.cc",
        "native/link.cc",
        "native/addr.cc",
        "native/route.cc",
        "native/neigh.cc",
        "native/nft.cc",
        "native/nft_table.cc",
        "native/nft_chain.cc",
        "native/nft_rule.cc",
        "native/nft_set.cc",
        "native/nft_expr.cc",
        "native/error_names.cc",
        "native/sanitize.cc",
        "native/parse_msg.cc",
        "native/parse_rtnl.cc",
        "native/parse_nft.cc"
      ],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I libnl-3.0 libnl-route-3.0 libnftnl libmnl | sed 's/-I//g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs libnl-3.0 libnl-route-3.0 libnftnl libmnl)"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wno-missing-field-initializers"],
      "defines+": ["NAPI_CPP_EXCEPTIONS"]
    }
  ]
}
